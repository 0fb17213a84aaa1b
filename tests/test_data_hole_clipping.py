"""The hole detector against natural plateaus at one exact value: clipped sky, crushed shadows, flat areas.

Each scene is a generated photo with one such plateau and a real constant-filled hole; the
detector must return the hole, not the larger plateau (a detector that prefers the largest
hard-bordered region of one value returns the plateau in every one of them).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from data.hole_detection import detect_hole
from data.masks import largest_component
from data.synthetic import natural_image
from utils.color import pil_luma

H, W = 192, 256


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def photo(seed: int, height: int = H, width: int = W) -> np.ndarray:
    return pil_luma(natural_image(height, width, np.random.default_rng(seed)))


def rectangle(top: int, left: int, height: int, width: int, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + height, left : left + width] = True
    return mask


def skyline_sky(seed: int) -> np.ndarray:
    """The upper part of the frame above a skyline of buildings: hard edges, about a third of the frame."""
    rng = np.random.default_rng(seed)
    heights = np.repeat(rng.integers(30, 90, W // 32), 32)  # building tops, 32 px wide each
    return np.arange(H)[:, None] < heights[None, :]


def ragged_blob(seed: int, share: float, box: tuple[slice, slice]) -> np.ndarray:
    """A region with a natural, ragged outline (an iso-contour of a noisy smooth field) inside `box`."""
    rng = np.random.default_rng(seed)
    field = cv2.GaussianBlur(rng.normal(0, 1, (H, W)).astype(np.float32), (0, 0), 12)
    field += rng.normal(0, 0.02, (H, W)).astype(np.float32)  # pixel-level wiggle of the outline
    inside = np.zeros((H, W), dtype=bool)
    inside[box] = True
    threshold = np.quantile(field[inside], 1 - share * inside.size / inside.sum())
    return largest_component((field > threshold) & inside)


def paste(gray: np.ndarray, region: np.ndarray, value: int) -> np.ndarray:
    out = gray.copy()
    out[region] = value
    return out


def test_clipped_sky_at_255_is_not_the_hole_filled_with_40() -> None:
    sky = skyline_sky(0)
    assert 0.2 < sky.mean() < 0.45
    hole = rectangle(130, 40, 40, 60)
    gray = paste(paste(photo(1), sky, 255), hole, 40)
    assert iou(detect_hole(gray), hole) > 0.98


@pytest.mark.parametrize("fill", [0, 10])
def test_crushed_shadow_at_0_is_not_the_hole(fill: int) -> None:
    shadow = rectangle(0, 0, H, 90) | rectangle(120, 0, 72, 200)  # an L-shaped third of the frame at 0
    assert 0.3 < shadow.mean() < 0.6
    hole = rectangle(30, 150, 45, 70)  # clear of the shadow: a fill of 0 touching it would merge with it
    gray = paste(paste(photo(2), shadow, 0), hole, fill)
    assert iou(detect_hole(gray), hole) > 0.98


def test_dark_windows_at_0_lose_to_a_hole_of_another_value() -> None:
    """Rectangular windows crushed to 0 look exactly like holes, except for their fill value."""
    windows = rectangle(20, 20, 40, 50) | rectangle(20, 150, 40, 50) | rectangle(110, 150, 45, 55)
    hole = rectangle(110, 30, 30, 50)  # smaller than each window
    gray = paste(paste(photo(3), windows, 0), hole, 25)
    assert iou(detect_hole(gray), hole) > 0.98


def test_hole_filled_86_next_to_a_ragged_plateau_at_86() -> None:
    plateau = ragged_blob(4, 0.08, (slice(0, H), slice(0, 130)))
    hole = rectangle(70, 140, 40, 40)  # a few pixels right of the plateau's box, half its area
    gray = paste(paste(photo(5), plateau, 86), hole, 86)
    assert plateau.sum() > hole.sum() and not (plateau & hole).any()
    assert iou(detect_hole(gray), hole) > 0.98


def test_small_valid_hole_beside_a_large_clipped_area() -> None:
    """A hole of 1% of the frame touching a clipped sky of a third of it, and a crushed shadow below."""
    sky = rectangle(0, 0, 64, W)
    shadow = rectangle(150, 0, 42, W)
    hole = rectangle(64, 100, 22, 23)  # 506 px = 1.03%, its top edge on the sky
    assert 0.01 <= hole.mean() < 0.011
    gray = paste(paste(paste(photo(6), sky, 255), shadow, 0), hole, 30)
    assert iou(detect_hole(gray), hole) > 0.98


def polygon_with_a_thin_neck(shape: tuple[int, int]) -> np.ndarray:
    """A polygon whose two lobes hang on a spike one pixel wide (the path runs out and back along it)."""
    points = np.array([[60, 60], [180, 60], [180, 140], [240, 140],  # first lobe, then out along the spike
                       [300, 80], [330, 210], [240, 140], [180, 140],  # round the far lobe and back along it
                       [120, 200]], np.int32)
    canvas = np.zeros(shape, np.uint8)
    cv2.fillPoly(canvas, [points], 1)
    return canvas.astype(bool)


def test_polygon_lobes_on_a_thin_spike_are_both_kept() -> None:
    """Self-intersecting damage polygons can hang a lobe on a one-pixel spike; cutting leaks must not drop it."""
    hole = polygon_with_a_thin_neck((360, 480))
    assert cv2.connectedComponents(hole.astype(np.uint8), connectivity=4)[0] == 2, "one 4-connected region"
    assert 0.01 <= hole.mean() <= 0.13
    gray = paste(photo(7, 360, 480), hole, 50)
    assert iou(detect_hole(gray), hole) > 0.98
