"""Classical pre-filling of the lost region, so the network starts from a plausible guess.

Measured on real pairs (docs/task.md): Telea inpainting alone lifts the lost-region SSIM from
0.20 (constant gray) to 0.36, for free. Pixels outside the mask are returned unchanged, so the
luminance the network may paste back stays exact.

Methods (`data.prefill`):
- none: keep the constant gray;
- telea / ns: OpenCV `cv2.inpaint` (Telea's fast marching, Navier-Stokes), ~10 ms per 512x512;
- fsr_fast / fsr_best: Frequency Selective Reconstruction (`cv2.xphoto.inpaint`, opencv-contrib):
  each 16x16 block of the hole is extrapolated from a sparse Fourier model of its known
  surroundings, which continues texture and edges where Telea smears them; 0.3 to 1.3 s (fast)
  and 20 to 35 s (best) per 512x512 photo, so training caches them (data/prefill_cache.py);
- shiftmap: `cv2.xphoto.inpaint` ShiftMap (He & Sun 2012), the hole copied from shifted parts of
  the image, seams placed by graph cut; seconds per photo;
- fsr_ns: the mean of the fsr_fast and ns fills. The two err differently (FSR continues texture and
  sometimes the wrong edge, NS diffuses smoothly), and the score's SSIM rewards the average of two
  unsure guesses over either one (README "Pre-fill" table);
- fsr_ns_soft: fsr_ns blurred progressively with the distance from the hole's edge (a Gaussian of
  sigma 4 px, blended in from 0 at the edge to fully at 20 px inside). Deep in a hole every fill is
  a guess, and the SSIM of a guess rises when its detail shrinks toward the local mean; near the
  edge the fill is continuation and stays sharp. The generator of the budget recipes cannot do
  this itself: its frozen encoder is not shown the mask, so it cannot tell the hole's depth.
- fsr_flips_ns_soft: 0.7 x the mean of fsr_fast run on the photo and on its three mirror images
  (each mirrored back) + 0.3 x ns, softened as fsr_ns_soft with a Gaussian of sigma 6 px, and kept
  at plain fsr_fast where that fill is near black (weight fsr/16). FSR's blocks are visited in a
  fixed order, so mirroring the photo gives four different guesses; their mean errs less. The dark
  guard is there because SSIM's luminance term is most sensitive near 0: the mean and the blur lift
  a crushed-black hole toward its brighter rim, which cost dark photos more than the mean gained
  (docs/quality.md).

`cv2.xphoto.inpaint` takes the opposite mask convention to `cv2.inpaint`: nonzero = KNOWN pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

from data.config import SLOW_PREFILLS  # noqa: F401  (defined with the config that validates against it)

PREFILL_METHODS = ("none", "telea", "ns", "fsr_fast", "fsr_best", "shiftmap", "fsr_ns", "fsr_ns_soft", "fsr_flips_ns_soft")
# Composite fills: a weighted mean of parts' fills, each computed (or read from the cache) alone. A part
# is a method, optionally run on the photo mirrored (":h" left-right, ":v" up-down, ":hv" both) and
# mirrored back.
COMPOSITE_PARTS = {
    "fsr_ns": ("fsr_fast", "ns"),
    "fsr_ns_soft": ("fsr_fast", "ns"),
    "fsr_flips_ns_soft": ("fsr_fast", "fsr_fast:h", "fsr_fast:v", "fsr_fast:hv", "ns"),
}
_WEIGHTS = {"fsr_flips_ns_soft": (0.175, 0.175, 0.175, 0.175, 0.3)}  # others: equal weights
_SOFT_SIGMAS = {"fsr_ns_soft": 4.0, "fsr_flips_ns_soft": 6.0}  # px: the blur deep inside the hole
_DARK_GUARDED = ("fsr_flips_ns_soft",)
_MIRROR_AXES = {"": (), "h": (1,), "v": (0,), "hv": (0, 1)}
_CV2_FLAGS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
_XPHOTO_FLAGS = {
    "fsr_fast": cv2.xphoto.INPAINT_FSR_FAST,
    "fsr_best": cv2.xphoto.INPAINT_FSR_BEST,
    "shiftmap": cv2.xphoto.INPAINT_SHIFTMAP,
}
_RADIUS = 3.0
_SOFT_DEPTH = 20.0  # px from the hole's edge at which the blur is at full strength
_DARK_LEVEL = 16.0  # gray below which the first part's (plain FSR's) fill is kept, fully at 0


def check_prefill(method: str, where: str = "prefill") -> None:
    """Fail with a one-line message naming `where` unless `method` is a known pre-fill."""
    if method not in PREFILL_METHODS:
        raise ValueError(f"{where}: got {method!r}, expected one of {', '.join(PREFILL_METHODS)}")


def prefill(gray: np.ndarray, mask: np.ndarray, method: str) -> np.ndarray:
    """`gray` (HxW uint8) with the pixels under `mask` (HxW bool) filled by `method`."""
    check_prefill(method, "prefill method")
    if method == "none" or not mask.any() or mask.all():
        # Nothing to fill, or no context at all to fill it from.
        return gray.copy()
    gray = np.ascontiguousarray(gray)
    if method in COMPOSITE_PARTS:
        return combine_fills(gray, mask, method, [prefill_part(gray, mask, part) for part in COMPOSITE_PARTS[method]])
    if method in _CV2_FLAGS:
        filled = cv2.inpaint(gray, mask.astype(np.uint8), _RADIUS, _CV2_FLAGS[method])
    else:
        filled = np.zeros_like(gray)
        known = (~mask).astype(np.uint8) * 255
        cv2.xphoto.inpaint(gray, known, filled, _XPHOTO_FLAGS[method])
    filled[~mask] = gray[~mask]
    return filled


def check_part(part: str) -> None:
    """Fail unless `part` is "<method>" or "<method>:<h|v|hv>" with a known, non-composite method."""
    method, colon, mirror = part.partition(":")
    check_prefill(method, f"prefill part {part!r}")
    if method in COMPOSITE_PARTS or mirror not in _MIRROR_AXES or (colon and not mirror):
        raise ValueError(f"prefill part {part!r}: expected a plain method, optionally with :h, :v or :hv")


def prefill_part(gray: np.ndarray, mask: np.ndarray, part: str) -> np.ndarray:
    """One composite part's fill: `prefill` of its method, on the photo mirrored as the part says and mirrored back."""
    check_part(part)
    method, _, mirror = part.partition(":")
    axes = _MIRROR_AXES[mirror]
    if not axes:
        return prefill(gray, mask, method)
    filled = prefill(np.ascontiguousarray(np.flip(gray, axes)), np.ascontiguousarray(np.flip(mask, axes)), method)
    return np.ascontiguousarray(np.flip(filled, axes))


def combine_fills(gray: np.ndarray, mask: np.ndarray, method: str, fills: list[np.ndarray]) -> np.ndarray:
    """The composite `method`'s fill from its parts' fills (COMPOSITE_PARTS order); the disk cache calls
    this too, with the parts read from their own caches, so both paths return the same bytes."""
    parts = [fill.astype(np.float32) for fill in fills]
    mean = np.average(parts, axis=0, weights=_WEIGHTS.get(method))
    if method in _SOFT_SIGMAS:
        depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
        weight = np.clip(depth / _SOFT_DEPTH, 0.0, 1.0)
        mean = weight * cv2.GaussianBlur(mean, (0, 0), _SOFT_SIGMAS[method]) + (1.0 - weight) * mean
    if method in _DARK_GUARDED:
        weight = np.clip(parts[0] / _DARK_LEVEL, 0.0, 1.0)
        mean = weight * mean + (1.0 - weight) * parts[0]
    filled = np.clip(np.rint(mean), 0, 255).astype(np.uint8)
    filled[~mask] = gray[~mask]
    return filled
