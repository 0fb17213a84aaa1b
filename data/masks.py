"""Small binary-mask operations shared by damage synthesis and hole detection."""

from __future__ import annotations

import cv2
import numpy as np


def components(mask: np.ndarray, connectivity: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Label image (0 = background) and the pixel count of each label (index 0 = background)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=connectivity)
    return labels, stats[:, cv2.CC_STAT_AREA]


def largest_component(mask: np.ndarray, connectivity: int = 4) -> np.ndarray:
    """The largest connected region of `mask` (all False when `mask` is empty)."""
    labels, areas = components(mask, connectivity)
    if len(areas) <= 1:
        return np.zeros(mask.shape, dtype=bool)
    return labels == 1 + int(np.argmax(areas[1:]))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """`mask` with every background region not connected to the image border set to True.

    A lost region is one solid area: a pixel enclosed by it was lost too (self-intersecting
    polygons drawn with the even-odd rule would otherwise leave islands of intact pixels).
    """
    h, w = mask.shape
    padded = np.zeros((h + 2, w + 2), np.uint8)
    padded[1:-1, 1:-1] = mask
    flood = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(padded, flood, (0, 0), 2)
    return padded[1:-1, 1:-1] != 2


def padded_box(rect: tuple[int, int, int, int], pad: int | tuple[int, int], shape: tuple[int, ...]) -> tuple[slice, slice]:
    """Row and column slices of the box `rect` = (x, y, w, h) grown by `pad` pixels (or (rows, columns)), clipped to `shape`."""
    x, y, w, h = rect
    pad_y, pad_x = (pad, pad) if isinstance(pad, int) else pad
    return slice(max(0, y - pad_y), min(shape[0], y + h + pad_y)), slice(max(0, x - pad_x), min(shape[1], x + w + pad_x))
