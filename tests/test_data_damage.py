"""Damage synthesis reproduces the measured statistics of the competition's damage."""

from __future__ import annotations

import numpy as np
import pytest

from data.config import SHAPE_KINDS, DamageConfig
from data.damage import draw_mask, synthesize_damage
from data.masks import components, fill_holes
from data.synthetic import natural_image
from utils.color import pil_luma
from utils.config import from_dict
from utils.errors import ConfigError


def test_statistics_over_1000_draws() -> None:
    cfg = DamageConfig()
    rng = np.random.default_rng(0)
    rgb = natural_image(128, 160, rng)
    luma = pil_luma(rgb)
    kinds, fills = set(), set()
    for _ in range(1000):
        gray, mask = synthesize_damage(rgb, rng, cfg)
        area = mask.mean()
        assert cfg.area_min <= area <= cfg.area_max
        _, areas = components(mask, connectivity=4)
        assert len(areas) == 2, "exactly one 4-connected region"
        assert np.array_equal(fill_holes(mask), mask), "the region has no holes"
        values = np.unique(gray[mask])
        assert len(values) == 1 and cfg.fill_min <= values[0] <= cfg.fill_max
        fills.add(int(values[0]))
        assert np.array_equal(gray[~mask], luma[~mask]), "PIL L conversion exact outside the mask"
    for _ in range(400):
        kinds.add(draw_mask(128, 160, rng, cfg)[1])
    assert kinds == set(SHAPE_KINDS)
    assert min(fills) <= 5 and max(fills) >= 95


def test_shapes_include_thin_rectangles_and_long_spikes() -> None:
    rng = np.random.default_rng(1)
    rect = DamageConfig(shapes={"rectangle": 1.0})
    ratios = []
    for _ in range(200):
        mask, _ = draw_mask(512, 512, rng, rect)
        ys, xs = np.nonzero(mask)
        h, w = np.ptp(ys) + 1, np.ptp(xs) + 1
        assert mask.sum() == h * w, "a filled axis-aligned rectangle"
        ratios.append(max(h, w) / min(h, w))
    assert max(ratios) > 2.5
    star = DamageConfig(shapes={"star": 1.0})
    fill_ratio = []
    for _ in range(200):
        mask, _ = draw_mask(512, 512, rng, star)
        ys, xs = np.nonzero(mask)
        fill_ratio.append(mask.sum() / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1)))
    assert min(fill_ratio) < 0.25, "some stars have long thin spikes (sparse bounding box)"


def test_ranges_follow_the_config_and_seed_reproduces() -> None:
    cfg = DamageConfig(area_min=0.2, area_max=0.25, fill_min=40, fill_max=42, shapes={"ellipse": 1.0, "polygon": 1.0})
    rgb = natural_image(96, 96, np.random.default_rng(2))
    a = synthesize_damage(rgb, np.random.default_rng(3), cfg)
    b = synthesize_damage(rgb, np.random.default_rng(3), cfg)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    for seed in range(50):
        gray, mask = synthesize_damage(rgb, np.random.default_rng(seed), cfg)
        assert 0.2 <= mask.mean() <= 0.25
        assert set(np.unique(gray[mask]).tolist()) <= {40, 41, 42}


def test_bad_damage_config_is_rejected() -> None:
    with pytest.raises(ConfigError, match="shapes: unknown shape kind 'hexagon'"):
        from_dict(DamageConfig, {"shapes": {"hexagon": 1.0}})
    with pytest.raises(ConfigError, match="area_min"):
        from_dict(DamageConfig, {"area_min": 0.5, "area_max": 0.1})
    with pytest.raises(ConfigError, match="fill_min"):
        from_dict(DamageConfig, {"fill_min": 90, "fill_max": 10})
