"""Finding the lost region of a damaged input without any training.

The competition's damage is ONE region filled with ONE constant gray. Photos almost never hold
a large area of one exact gray value with a sharp border, so the detector looks for exactly that:
a large connected set of pixels of one value whose surrounding ring of pixels differs clearly
from it. Real flat areas that also hold one exact value (clipped sky, saturated highlights,
black shadows, JPEG plateaus in smooth gradients) are told apart by that ring: brightness
approaches a natural plateau gradually, so most pixels next to it are within a few levels of
its value, while the pixels next to a pasted constant patch are arbitrary image content.
"""

from __future__ import annotations

import cv2
import numpy as np

from data.masks import components, fill_holes, largest_component

_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
_BOX = np.ones((3, 3), np.float32)


def detect_hole(
    gray: np.ndarray,
    min_area: float = 0.004,
    soft_tolerance: int = 2,
    max_soft_fraction: float = 0.5,
) -> np.ndarray:
    """The constant-filled lost region of `gray` (HxW uint8) as HxW bool; all False when none.

    min_area: smallest region considered, as a fraction of the image (the damage is >= 1%).
    soft_tolerance / max_soft_fraction: a region is rejected as a natural plateau when more than
    `max_soft_fraction` of the pixels bordering it are within `soft_tolerance` gray levels of it.
    """
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected an HxW uint8 gray image, got shape {gray.shape} dtype {gray.dtype}")
    min_pixels = max(16, int(min_area * gray.size))
    best, best_score = None, 0.0
    for value in _candidate_values(gray, min_pixels):
        labels, areas = components(gray == value)
        for label in np.nonzero(areas[1:] >= min_pixels)[0] + 1:
            region = _remove_leaks(labels == label)
            score = _score(gray, region, int(value), min_pixels, soft_tolerance, max_soft_fraction)
            if score > best_score:
                best, best_score = region, score
    if best is None:
        return np.zeros(gray.shape, dtype=bool)
    return fill_holes(best)


def _candidate_values(gray: np.ndarray, min_pixels: int) -> np.ndarray:
    """Gray values owning many 'flat' pixels (all four neighbours equal): cheap pre-filter."""
    centre = gray[1:-1, 1:-1]
    flat = (
        (centre == gray[:-2, 1:-1]) & (centre == gray[2:, 1:-1]) & (centre == gray[1:-1, :-2]) & (centre == gray[1:-1, 2:])
    )
    counts = np.bincount(centre[flat], minlength=256)
    return np.nonzero(counts >= min_pixels // 2)[0]


def _remove_leaks(region: np.ndarray) -> np.ndarray:
    """Drop image pixels that merely happen to equal the fill and touch the hole's border.

    Such pixels form thin, ragged attachments; a pixel stays when at least 4 of its 3x3
    neighbourhood belong to the region (straight borders keep 6, corners 4).
    """
    counts = cv2.filter2D(region.astype(np.float32), -1, _BOX, borderType=cv2.BORDER_CONSTANT)
    return largest_component(region & (counts >= 3.5))


def _score(
    gray: np.ndarray, region: np.ndarray, value: int, min_pixels: int, soft_tolerance: int, max_soft_fraction: float
) -> float:
    """Area discounted by how natural (gradual) the region's border looks; 0 = rejected."""
    area = int(region.sum())
    if area < min_pixels:
        return 0.0
    ring = cv2.dilate(region.astype(np.uint8), _CROSS).astype(bool) & ~region
    if not ring.any():
        return 0.0  # the whole image is one value: nothing to tell a hole from
    soft = float((np.abs(gray[ring].astype(np.int16) - value) <= soft_tolerance).mean())
    if soft > max_soft_fraction:
        return 0.0
    return area * (1.0 - soft)
