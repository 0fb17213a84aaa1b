"""How much a flat region of one exact gray value looks like the pasted lost region.

Photos hold natural plateaus of one value too: clipped sky at 255, crushed shadows at 0, dark
windows, flat graphics. What is known about the damage (docs/task.md) tells them apart, each
fact as a factor in [0, 1] (1 = fully hole-like); a candidate's plausibility is their product:

- fill value: the fills seen are 0..86 and never white. 255 is excluded, and 0, where crushed
  shadows are common, counts half (a dark plateau at 0 is far more often a shadow than a hole);
- area: 1%..13% of the image (a third of the frame at one value is the sky, not the hole);
- hardness: a pasted fill has arbitrary image content right next to it, while brightness
  approaches a natural plateau gradually (the neighbours of a clipped sky are mostly 253/254);
- continuity: next to a pasted region the image carries on as it does a few pixels further
  out, so the first ring differs from the fill as much as the third ring does; around a natural
  plateau the first ring is much closer to its value than the third (the slope into the clip);
- regularity: the damage is a rectangle, an ellipse or a polygon, whose outline is straight or
  smoothly curved between few corners; an iso-contour of a photo is ragged all along.

The thresholds sit between the two populations (true holes, other candidates) measured on CamVid
and BSDS500 photos (val and train) with seeded damage, plain and exposure-clipped
(`benchmarks/hole_iou.py --rows plain clipped-bright clipped-dark`), and were checked on held-out
CamVid train / BSDS500 test photos with other seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from data.masks import padded_box

_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
CLIP_VALUES = (0, 255)
SOFT_TOLERANCE = 2  # gray levels: a neighbour this close to the fill approaches it gradually
MIN_COUNTED = 16  # ring pixels: fewer counted ones are too few to call a border soft
_SMOOTHING = 1.5  # outline points: scale of the smooth curve an outline is compared with


@dataclass(frozen=True)
class Evidence:
    """The factors of one candidate region (each in [0, 1], 1 = hole-like) and their product."""

    value: float
    area: float
    hardness: float
    continuity: float
    regularity: float

    @property
    def plausibility(self) -> float:
        return self.value * self.area * self.hardness * self.continuity * self.regularity


def evidence(gray: np.ndarray, region: np.ndarray, value: int) -> Evidence:
    """The evidence that `region` (HxW bool, one value `value` in `gray`, inner gaps filled) is the hole."""
    area = float(region.mean())
    # The rings reach 3 pixels out: measure inside the region's box grown by 3, not the whole image.
    rows, cols = padded_box(cv2.boundingRect(region.astype(np.uint8)), 3, region.shape)
    on_border = (rows.start == 0, cols.start == 0, rows.stop == region.shape[0], cols.stop == region.shape[1])
    gray, region = gray[rows, cols], region[rows, cols]
    ring1 = _dilate(region, 1) & ~region
    ring3 = _dilate(region, 3) & ~_dilate(region, 2)
    return Evidence(
        value=value_prior(value),
        area=area_prior(area),
        hardness=_ramp(soft_fraction(gray, ring1, value), 1.0, 0.3),
        continuity=_ramp(continuity_ratio(gray, ring1, ring3, value), 0.5, 0.9),
        regularity=_ramp(outline_roughness(region, on_border), 0.5, 0.35),
    )


def value_prior(value: int) -> float:
    """1 for fills 1..100 (seen 0..86; the training damage reaches 100), 0.5 at 0, falling to 0 at 180 and for 255."""
    if value == 0:
        return 0.5
    return _ramp(value, 180, 100)


def area_prior(fraction: float) -> float:
    """1 for 0.9%..14% of the image (the damage covers 1%..13%), falling to 0 at 0.4% and 20%."""
    return min(_ramp(fraction, 0.004, 0.009), _ramp(fraction, 0.20, 0.14))


def soft_fraction(gray: np.ndarray, ring: np.ndarray, value: int) -> float:
    """Share of the ring 1..SOFT_TOLERANCE gray levels from `value`, leaving out neighbours that say nothing.

    Left out: neighbours at a clipping value (a hole of fill 1 inside a crushed shadow has
    neighbours at 0 all round, yet its border is as hard as any) and neighbours equal to `value`
    (the region's own pixels cut off as leaks, such as a thin spike's tip). Fewer than
    MIN_COUNTED neighbours left weigh as MIN_COUNTED: three pixels of 254 next to a hole pasted
    into a clipped sky do not make its border soft.
    """
    ring_values = gray[ring].astype(np.int16)
    counted = ring_values[(ring_values != value) & ~np.isin(ring_values, CLIP_VALUES)]
    soft = np.count_nonzero(np.abs(counted - value) <= SOFT_TOLERANCE)
    return soft / max(counted.size, MIN_COUNTED)


def continuity_ratio(gray: np.ndarray, ring1: np.ndarray, ring3: np.ndarray, value: int) -> float:
    """(mean |first ring - value| + 1) / (mean |third ring - value| + 1): ~1 for a pasted fill, < 1 for a slope into a plateau.

    Ring pixels equal to `value` are left out, as in `soft_fraction`: next to a hole pasted into
    noise around its fill they are the leaks cut off the region, which crowd the first ring only.
    """
    first, third = (gray[ring].astype(np.float32) for ring in (ring1, ring3))
    first, third = first[first != value], third[third != value]
    if not first.size or not third.size:
        return 1.0  # nothing around the region but its own value: no slope to measure
    return float((np.abs(first - value).mean() + 1.0) / (np.abs(third - value).mean() + 1.0))


def outline_roughness(region: np.ndarray, on_border: tuple[bool, bool, bool, bool] = (True,) * 4) -> float:
    """Mean distance (pixels) of the outer outline from a smoothed copy of itself, image-border pixels left out.

    A digitised straight edge or ellipse stays within about half a pixel of its smoothed copy
    (corners add a little); a natural iso-contour wanders by a pixel or more. The image border is
    left out because it makes any region that touches it look straight there. `on_border` says
    which sides of `region` (top, left, bottom, right) are the image's border (all for a whole image).
    """
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return 0.0
    points = max(contours, key=len)[:, 0].astype(np.float32)
    if len(points) < 8:
        return 0.0
    smooth = _smooth_closed(points, _SMOOTHING)
    height, width = region.shape
    top, left, bottom, right = on_border
    x, y = points[:, 0], points[:, 1]
    inside = ~((top & (y == 0)) | (left & (x == 0)) | (bottom & (y == height - 1)) | (right & (x == width - 1)))
    deviation = np.hypot(*(points - smooth).T)[inside]
    return float(deviation.mean()) if deviation.size else 0.0


def _smooth_closed(points: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of a closed outline's coordinates (wrapping around)."""
    radius = min(int(3 * sigma), (len(points) - 1) // 2)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.concatenate([points[-radius:], points, points[:radius]]) if radius else points
    return np.stack([np.convolve(padded[:, i], taps, mode="valid") for i in range(2)], axis=1)


def _dilate(region: np.ndarray, steps: int) -> np.ndarray:
    return cv2.dilate(region.astype(np.uint8), _CROSS, iterations=steps).astype(bool)


def _ramp(x: float, zero_at: float, one_at: float) -> float:
    """0 at `zero_at`, 1 at `one_at`, linear between and clamped (either direction)."""
    return float(np.clip((x - zero_at) / (one_at - zero_at), 0.0, 1.0))
