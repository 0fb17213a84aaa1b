"""Exposure clipping for the hole detector's clipped benchmark rows."""

from __future__ import annotations

import numpy as np
import pytest

from data.exposure import clip_exposure, random_clip_exposure
from data.synthetic import natural_image
from utils.color import pil_luma


@pytest.mark.parametrize("kind, clip_value", [("bright", 255), ("dark", 0)])
@pytest.mark.parametrize("share", [0.1, 0.25, 0.4])
def test_the_wanted_share_clips(kind: str, clip_value: int, share: float) -> None:
    rgb = natural_image(96, 128, np.random.default_rng(0))
    assert (pil_luma(rgb) == clip_value).mean() < 0.01
    out = clip_exposure(rgb, kind, share)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    assert abs((pil_luma(out) == clip_value).mean() - share) < 0.02
    # an exposure change: every channel moves one way, and brighter stays brighter
    assert (out >= rgb).all() if kind == "bright" else (out <= rgb).all()
    flat_in, flat_out = rgb.reshape(-1).astype(int), out.reshape(-1).astype(int)
    order = np.argsort(flat_in, kind="stable")
    assert (np.diff(flat_out[order]) >= 0).all()


def test_random_share_is_drawn_from_the_range() -> None:
    rgb = natural_image(64, 64, np.random.default_rng(1))
    shares = [(pil_luma(random_clip_exposure(rgb, "bright", np.random.default_rng(s))) == 255).mean() for s in range(4)]
    assert all(0.08 < s < 0.42 for s in shares) and len(set(shares)) > 1


def test_a_photo_that_cannot_clip_gets_the_largest_gain() -> None:
    black = np.zeros((8, 8, 3), np.uint8)
    assert np.array_equal(clip_exposure(black, "bright", 0.3), black)


def test_bad_arguments_are_named() -> None:
    rgb = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="exposure 'grey': expected one of bright, dark"):
        clip_exposure(rgb, "grey", 0.2)
    with pytest.raises(ValueError, match="clipped share 1.0: expected a fraction strictly between 0 and 1"):
        clip_exposure(rgb, "dark", 1.0)
