"""The training-free hole detector and the classical pre-fill."""

from __future__ import annotations

import numpy as np
import pytest

from data.config import DamageConfig
from data.damage import synthesize_damage
from data.hole_detection import detect_hole
from data.prefill import prefill
from data.synthetic import natural_image
from utils.color import pil_luma


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_detects_synthetic_damage_with_fills_0_to_100() -> None:
    rng = np.random.default_rng(0)
    cfg = DamageConfig(fill_min=0, fill_max=100)
    scores = []
    for _ in range(100):
        gray, mask = synthesize_damage(natural_image(192, 256, rng), rng, cfg)
        scores.append(iou(detect_hole(gray), mask))
    assert np.mean(scores) >= 0.95
    assert np.median(scores) >= 0.98


def test_no_hole_gives_an_empty_mask() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        found = detect_hole(pil_luma(natural_image(192, 256, rng)))
        assert found.dtype == bool and found.shape == (192, 256) and not found.any()
    assert not detect_hole(np.full((64, 64), 37, np.uint8)).any(), "a uniform image has no hole"


def saturated_sky(rng: np.random.Generator) -> np.ndarray:
    """A photo whose top third is clipped white sky that brightens gradually into the clip."""
    gray = pil_luma(natural_image(192, 256, rng))
    ramp = np.clip(np.linspace(330, 150, 192), 0, 255)[:, None]
    sky = np.clip(ramp + rng.normal(0, 1.0, (192, 256)), 0, 255)
    top = np.arange(192)[:, None] < 100
    return np.where(top, sky, gray).astype(np.uint8)


def test_clipped_sky_is_not_a_hole_but_the_hole_below_it_is() -> None:
    rng = np.random.default_rng(2)
    sky = saturated_sky(rng)
    assert (sky == 255).mean() > 0.15
    assert not detect_hole(sky).any()
    gray = sky.copy()
    mask = np.zeros_like(gray, dtype=bool)
    mask[120:170, 60:140] = True
    gray[mask] = 50
    assert iou(detect_hole(gray), mask) > 0.95


def test_black_fill_next_to_black_shadow_pixels() -> None:
    rng = np.random.default_rng(3)
    gray = pil_luma(natural_image(160, 160, rng))
    gray[:, :40] = np.clip(rng.normal(3, 3, (160, 40)), 0, 255).astype(np.uint8)  # dark, noisy, some exact 0
    mask = np.zeros_like(gray, dtype=bool)
    mask[40:100, 30:90] = True
    gray[mask] = 0
    assert iou(detect_hole(gray), mask) > 0.9


@pytest.mark.parametrize("method", ["none", "telea", "ns"])
def test_prefill_keeps_pixels_outside_the_mask(method: str) -> None:
    rng = np.random.default_rng(4)
    rgb = natural_image(96, 96, rng)
    gray, mask = synthesize_damage(rgb, rng, DamageConfig(area_min=0.1, area_max=0.13))
    out = prefill(gray, mask, method)
    assert out.dtype == np.uint8 and out.shape == gray.shape
    assert np.array_equal(out[~mask], gray[~mask])
    if method == "none":
        assert np.array_equal(out, gray)
    else:
        # The fill is drawn from the surroundings, so it is closer to the truth than the constant gray.
        truth = pil_luma(rgb)[mask].astype(float)
        assert np.abs(out[mask] - truth).mean() < np.abs(gray[mask] - truth).mean()


def test_prefill_rejects_unknown_method() -> None:
    with pytest.raises(ValueError, match="'median'"):
        prefill(np.zeros((8, 8), np.uint8), np.zeros((8, 8), bool), "median")
