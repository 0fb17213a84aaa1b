"""Classical pre-filling of the lost region, so the network starts from a plausible guess.

Measured on real pairs (docs/task.md): Telea inpainting alone lifts the lost-region SSIM from
0.20 (constant gray) to 0.36, for free. Pixels outside the mask are returned unchanged, so the
luminance the network may paste back stays exact.
"""

from __future__ import annotations

import cv2
import numpy as np

PREFILL_METHODS = ("none", "telea", "ns")
_FLAGS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
_RADIUS = 3.0


def prefill(gray: np.ndarray, mask: np.ndarray, method: str) -> np.ndarray:
    """`gray` (HxW uint8) with the pixels under `mask` (HxW bool) filled by `method`."""
    if method not in PREFILL_METHODS:
        raise ValueError(f"prefill method {method!r}: expected one of {', '.join(PREFILL_METHODS)}")
    if method == "none" or not mask.any() or mask.all():
        # Nothing to fill, or no context at all to fill it from.
        return gray.copy()
    filled = cv2.inpaint(gray, mask.astype(np.uint8), _RADIUS, _FLAGS[method])
    filled[~mask] = gray[~mask]
    return filled
