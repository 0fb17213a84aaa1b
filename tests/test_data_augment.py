"""Paired augmentation keeps input, target and mask aligned."""

from __future__ import annotations

import numpy as np
import pytest

from data.augment import ensure_size, random_crop
from data.config import AugmentConfig, DamageConfig
from data.damage import synthesize_damage
from data.synthetic import natural_image
from utils.color import pil_luma
from utils.errors import ChromaFillError


def coordinate_image(h: int, w: int) -> np.ndarray:
    """RGB encoding each pixel's position, so any misalignment shows."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([yy % 256, xx % 256, (yy // 256) * 16 + (xx // 256)], axis=2).astype(np.uint8)


@pytest.mark.parametrize("scale", [(1.0, 1.0), (0.6, 1.5)])
def test_crop_flip_and_scale_keep_the_triple_aligned(scale: tuple[float, float]) -> None:
    cfg = AugmentConfig(hflip=True, scale_min=scale[0], scale_max=scale[1])
    rng = np.random.default_rng(0)
    flips = 0
    for i in range(60):
        rgb = natural_image(90, 120, rng)
        gray, mask = synthesize_damage(rgb, rng, DamageConfig(area_min=0.1, area_max=0.13))
        fill = int(gray[mask][0])
        g, t, m = random_crop(gray, rgb, mask if i % 2 else None, rng, 64, cfg)
        assert g.shape == (64, 64) and t.shape == (64, 64, 3) and m.shape == (64, 64) and m.dtype == bool
        assert np.array_equal(g[~m], pil_luma(t)[~m]), "input == L(target) outside the mask"
        assert np.all(g[m] == fill), "the mask covers exactly the constant fill"
        if scale == (1.0, 1.0):
            flips += int(_is_flipped(t, rgb))
    if scale == (1.0, 1.0):
        assert 15 < flips < 45, "flips happen about half the time"


def _is_flipped(crop: np.ndarray, full: np.ndarray) -> bool:
    """Whether `crop` occurs in `full` mirrored (searching every window)."""
    h, w = crop.shape[:2]
    for top in range(full.shape[0] - h + 1):
        for left in range(full.shape[1] - w + 1):
            window = full[top : top + h, left : left + w]
            if np.array_equal(window, crop):
                return False
            if np.array_equal(window[:, ::-1], crop):
                return True
    raise AssertionError("the crop is not a window of the image")


def test_crop_is_a_window_of_the_image_at_the_same_place_for_all_three() -> None:
    rgb = coordinate_image(100, 140)
    gray = pil_luma(rgb)
    mask = np.zeros((100, 140), bool)
    mask[::3, ::5] = True
    rng = np.random.default_rng(1)
    for _ in range(30):
        g, t, m = random_crop(gray, rgb, mask, rng, 40, AugmentConfig(hflip=True))
        top, left = int(t[:, :, 0].min()), int(t[:, :, 1].min())
        flipped = t[0, 0, 1] != left
        window = np.s_[top : top + 40, left : left + 40]
        expect = (lambda a: a[:, ::-1]) if flipped else (lambda a: a)
        assert np.array_equal(t, expect(rgb[window]))
        assert np.array_equal(g, expect(gray[window]))
        assert np.array_equal(m, expect(mask[window]))


def test_crop_larger_than_image_fails_clearly_or_pads() -> None:
    rgb = coordinate_image(30, 50)
    gray = pil_luma(rgb)
    with pytest.raises(ChromaFillError, match=r"photo.jpg: image is 50x30 pixels, smaller than data.crop_size 40"):
        ensure_size(gray, rgb, None, 40, False, "photo.jpg", "data.crop_size")
    g, t, m = ensure_size(gray, rgb, np.zeros((30, 50), bool), 40, True, "photo.jpg", "data.crop_size")
    assert g.shape == (40, 50) and t.shape == (40, 50, 3) and m.shape == (40, 50)
    assert np.array_equal(g, pil_luma(t)), "padding keeps input == L(target)"
    g, t, m = random_crop(g, t, m, np.random.default_rng(0), 40, AugmentConfig())
    assert t.shape == (40, 40, 3)
