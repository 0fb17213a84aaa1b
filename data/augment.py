"""Paired augmentation on uint8 arrays: the same crop, rescale and flip for input, target and mask.

A training image is either a random crop or, with `data.augment.whole_photo_prob`, the whole
photo shrunk to the crop size (`whole_photo`): colour depends on the whole scene, which a 128-px
crop of a 480x360 photo mostly leaves out while inference sees all of it.

Working on uint8 numpy views before any float conversion is the cheapest place to do it (a crop
is a slice). Rescaling keeps the damage model exact: the target is resized, the mask is resized
with nearest neighbour, and the input is recomputed as L(target) with the constant fill inside
the mask, so `input == L(target)` outside the mask still holds bit-exactly.
"""

from __future__ import annotations

import cv2
import numpy as np

from data.config import AugmentConfig
from utils.color import pil_luma
from utils.errors import ChromaFillError


def ensure_size(
    gray: np.ndarray, rgb: np.ndarray, mask: np.ndarray | None, size: int, pad: bool, name: str, key: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Reflect-pad all arrays to at least size x size when allowed, else fail naming the image."""
    h, w = rgb.shape[:2]
    if h >= size and w >= size:
        return gray, rgb, mask
    if not pad:
        raise ChromaFillError(too_small_message(name, h, w, size, key))
    py, px = max(0, size - h), max(0, size - w)
    border = (py // 2, py - py // 2, px // 2, px - px // 2)

    def grow(a: np.ndarray) -> np.ndarray:
        return cv2.copyMakeBorder(a, *border, cv2.BORDER_REFLECT_101)

    padded_mask = None if mask is None else grow(mask.astype(np.uint8)).astype(bool)
    return grow(gray), grow(rgb), padded_mask


def too_small_message(name: str, h: int, w: int, size: int, key: str) -> str:
    return f"{name}: image is {w}x{h} pixels, smaller than {key} {size}; use a smaller {key} or set data.pad_if_smaller: true"


def random_crop(
    gray: np.ndarray,
    rgb: np.ndarray,
    mask: np.ndarray | None,
    rng: np.random.Generator,
    crop: int,
    cfg: AugmentConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random crop x crop window (after optional rescale and flip) of an aligned triple.

    `mask=None` means the mask is `gray != L(rgb)` (real DACON pairs); it is then computed on the
    cropped window only, which is cheaper. Arrays must be at least crop x crop (see ensure_size).
    The rescale factor is kept large enough that the rescaled image still holds a full crop.
    """
    if mask is None and cfg.hole_crop_prob > 0:  # the crop is placed by the hole: find it on the whole image
        mask = gray != pil_luma(rgb)
    window, flip = _draw_window(rgb.shape[:2], rng, crop, cfg, mask)
    gray, rgb = gray[window], rgb[window]
    mask = gray != pil_luma(np.ascontiguousarray(rgb)) if mask is None else mask[window]
    if gray.shape[0] != crop:
        gray, rgb, mask = _resize(gray, rgb, mask, crop)
    return _flipped(flip, gray, rgb, mask)  # type: ignore[return-value]


def random_crop_filled(
    gray: np.ndarray,
    filled: np.ndarray,
    rgb: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    crop: int,
    cfg: AugmentConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`random_crop` of an aligned quadruple: damaged gray, its full-size pre-fill, target and mask.

    The same random draws as `random_crop`. A rescaled pre-fill is resized like the target, then
    set back to the recomputed L(target) outside the mask, so it stays exact there.
    """
    window, flip = _draw_window(rgb.shape[:2], rng, crop, cfg, mask)
    gray, filled, rgb, mask = gray[window], filled[window], rgb[window], mask[window]
    if gray.shape[0] != crop:
        new_gray, new_rgb, new_mask = _resize(gray, rgb, mask, crop)
        filled = cv2.resize(np.ascontiguousarray(filled), (crop, crop), interpolation=_interpolation(gray.shape[0], crop))
        filled[~new_mask] = new_gray[~new_mask]
        gray, rgb, mask = new_gray, new_rgb, new_mask
    return _flipped(flip, gray, filled, rgb, mask)  # type: ignore[return-value]


def _draw_window(shape: tuple[int, int], rng: np.random.Generator, crop: int, cfg: AugmentConfig,
                 hole: np.ndarray | None = None) -> tuple[tuple[slice, slice], bool]:
    """The source window (square, `crop` px after rescaling) and whether to flip, drawn in a fixed order.

    With `cfg.hole_crop_prob` the window is, that often, one of the windows that hold a random
    pixel of `hole` (uniform over them). Its draw is made only when the key is on, so configs
    without it keep their random streams.
    """
    h, w = shape
    scale = rng.uniform(cfg.scale_min, cfg.scale_max) if cfg.scale_max != cfg.scale_min else cfg.scale_min
    region = min(h, w, max(1, round(crop / max(scale, crop / min(h, w)))))
    top_range, left_range = (0, h - region), (0, w - region)
    if cfg.hole_crop_prob > 0 and rng.random() < cfg.hole_crop_prob and hole is not None and hole.any():
        pixels = np.flatnonzero(hole)
        y, x = divmod(int(pixels[rng.integers(len(pixels))]), w)
        top_range = (max(0, y - region + 1), min(y, h - region))
        left_range = (max(0, x - region + 1), min(x, w - region))
    top = int(rng.integers(top_range[0], top_range[1] + 1))
    left = int(rng.integers(left_range[0], left_range[1] + 1))
    flip = bool(cfg.hflip and rng.random() < 0.5)
    return np.s_[top : top + region, left : left + region], flip


def _flipped(flip: bool, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(np.ascontiguousarray(a[:, ::-1] if flip else a) for a in arrays)


def _interpolation(source: int, size: int) -> int:
    return cv2.INTER_AREA if source > size else cv2.INTER_LINEAR


def random_flip(
    gray: np.ndarray, rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A left-right flip of all three with probability 0.5 (when `cfg.hflip`); contiguous copies out."""
    return _flipped(bool(cfg.hflip and rng.random() < 0.5), gray, rgb, mask)  # type: ignore[return-value]


def _centre_square(h: int, w: int) -> tuple[slice, slice]:
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return np.s_[top : top + side, left : left + side]


def whole_photo(rgb: np.ndarray, size: int) -> np.ndarray:
    """The whole photo as a size x size training image: its centred square, resized.

    The centred square (the short side's width: 75 % of a 4:3 photo) keeps the aspect ratio and
    adds no border: padding to a square would train the colour on borders no inference image
    has. Damage is drawn afterwards, on this small image, so the hole covers the usual 1-13 % of
    what the network sees, as at inference (a hole drawn on the large photo and cropped can fill
    a whole crop or miss it).
    """
    square = np.ascontiguousarray(rgb[_centre_square(*rgb.shape[:2])])
    interp = cv2.INTER_AREA if square.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interp)


def whole_photo_pair(
    gray: np.ndarray, rgb: np.ndarray, mask: np.ndarray | None, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`whole_photo` of a pair that already has its damage (a DACON pair): the centred square of
    all three, resized as `random_crop` rescales (the mask by nearest neighbour, the input
    recomputed as L(target) with the constant fill). `mask=None`: `gray != L(rgb)`."""
    window = _centre_square(*rgb.shape[:2])
    gray, rgb = gray[window], rgb[window]
    mask = gray != pil_luma(np.ascontiguousarray(rgb)) if mask is None else mask[window]
    if rgb.shape[0] != size:
        gray, rgb, mask = _resize(gray, rgb, mask, size)
    return np.ascontiguousarray(gray), np.ascontiguousarray(rgb), np.ascontiguousarray(mask)


def _resize(gray: np.ndarray, rgb: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rgb = cv2.resize(np.ascontiguousarray(rgb), (size, size), interpolation=_interpolation(rgb.shape[0], size))
    new_mask = cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST).astype(bool)
    new_gray = pil_luma(rgb)
    if new_mask.any():
        new_gray[new_mask] = int(np.median(gray[mask])) if mask.any() else 0
    return new_gray, rgb, new_mask


def center_crop(
    gray: np.ndarray | None, rgb: np.ndarray, mask: np.ndarray | None, size: int
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """The central size x size window of each array that is given (arrays are at least that big)."""
    h, w = rgb.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    window = np.s_[top : top + size, left : left + size]
    return (
        None if gray is None else gray[window],
        rgb[window],
        None if mask is None else mask[window],
    )
