"""The competition's gray conversion and the luminance/chroma space that matches it.

The DACON inputs are PIL ``convert("L")`` of the ground truth, which is
``(19595 R + 38470 G + 7471 B + 32768) >> 16`` on 8-bit values: BT.601 luma weights, rounded.
Every layer that needs this formula (damage synthesis, metrics, the luminance-compositing head)
takes it from here so they can never disagree.
"""

from __future__ import annotations

import numpy as np
import torch

# BT.601 weights exactly as PIL's fixed-point constants (divide by 2**16).
LUMA_WEIGHTS = (19595 / 65536, 38470 / 65536, 7471 / 65536)


def pil_luma(rgb: np.ndarray) -> np.ndarray:
    """PIL ``convert("L")`` of an HxWx3 uint8 RGB array, bit-exact, as HxW uint8."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB array, got shape {rgb.shape} dtype {rgb.dtype}")
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    return ((19595 * r + 38470 * g + 7471 * b + 32768) >> 16).astype(np.uint8)


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """Differentiable BT.601 luma of Bx3xHxW RGB in [0, 1] (PIL's weights, no rounding): Bx1xHxW."""
    w = torch.tensor(LUMA_WEIGHTS, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb * w).sum(dim=1, keepdim=True)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """Bx3xHxW RGB in [0,1] -> Y, Cb, Cr (full-range BT.601; chroma centred on 0.5).

    Y uses PIL's weights so that Y of a prediction is comparable with the gray input.
    """
    y = luma(rgb)
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    cb = (b - y) / (2 * (1 - LUMA_WEIGHTS[2])) + 0.5
    cr = (r - y) / (2 * (1 - LUMA_WEIGHTS[0])) + 0.5
    return torch.cat([y, cb, cr], dim=1)


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (no clipping: callers clamp where they need to)."""
    wr, wg, wb = LUMA_WEIGHTS
    y, cb, cr = ycbcr[:, 0:1], ycbcr[:, 1:2] - 0.5, ycbcr[:, 2:3] - 0.5
    r = y + 2 * (1 - wr) * cr
    b = y + 2 * (1 - wb) * cb
    g = (y - wr * r - wb * b) / wg
    return torch.cat([r, g, b], dim=1)
