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
  the image, seams placed by graph cut; seconds per photo.

`cv2.xphoto.inpaint` takes the opposite mask convention to `cv2.inpaint`: nonzero = KNOWN pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

from data.config import SLOW_PREFILLS  # noqa: F401  (defined with the config that validates against it)

PREFILL_METHODS = ("none", "telea", "ns", "fsr_fast", "fsr_best", "shiftmap")
_CV2_FLAGS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
_XPHOTO_FLAGS = {
    "fsr_fast": cv2.xphoto.INPAINT_FSR_FAST,
    "fsr_best": cv2.xphoto.INPAINT_FSR_BEST,
    "shiftmap": cv2.xphoto.INPAINT_SHIFTMAP,
}
_RADIUS = 3.0


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
    if method in _CV2_FLAGS:
        filled = cv2.inpaint(gray, mask.astype(np.uint8), _RADIUS, _CV2_FLAGS[method])
    else:
        filled = np.zeros_like(gray)
        known = (~mask).astype(np.uint8) * 255
        cv2.xphoto.inpaint(gray, known, filled, _XPHOTO_FLAGS[method])
    filled[~mask] = gray[~mask]
    return filled
