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
    """Inverse of :func:`rgb_to_ycbcr` (no clipping: see :func:`ycbcr_to_rgb_in_gamut` for images)."""
    wr, wg, wb = LUMA_WEIGHTS
    y, cb, cr = ycbcr[:, 0:1], ycbcr[:, 1:2] - 0.5, ycbcr[:, 2:3] - 0.5
    r = y + 2 * (1 - wr) * cr
    b = y + 2 * (1 - wb) * cb
    g = (y - wr * r - wb * b) / wg
    return torch.cat([r, g, b], dim=1)


# Denominator floor of the gamut factor: a chroma this close to gray needs no scaling anyway.
_GAMUT_EPS = 1e-12


def ycbcr_to_rgb_in_gamut(y: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
    """Bx1xHxW Y in [0, 1] and Bx2xHxW (Cb, Cr) -> Bx3xHxW RGB in [0, 1] whose luma is exactly Y.

    Most of the (Cb, Cr) square lies outside the RGB gamut at a given Y (at Y near 0 or 1
    almost all of it), and clamping R, G, B afterwards changes luma: the competition's input is
    PIL L of the original, so clamped pixels broke the exact luminance outside the hole (2.7% of
    them moved by more than one level on real predictions). Instead the chroma is scaled
    towards gray (0.5, 0.5) by the largest factor k in [0, 1] that keeps every channel in
    [0, 1]. RGB = Y + k * d, where d is the channels' offset from Y for the given chroma and
    sum(luma weights * d) = 0, so luma stays Y for every k; hue is kept too (the channel
    differences all scale by k). Closed form per pixel: k = min(1, (1 - Y) / max(d), Y / -min(d)).
    The final clamp only removes float rounding (~1e-7).
    """
    wr, wg, wb = LUMA_WEIGHTS
    cb, cr = chroma[:, 0:1] - 0.5, chroma[:, 1:2] - 0.5
    d_r = (2 * (1 - wr)) * cr
    d_b = (2 * (1 - wb)) * cb
    d_g = (d_r * wr + d_b * wb) * (-1 / wg)
    d_max = torch.maximum(torch.maximum(d_r, d_g), d_b)
    d_min = torch.minimum(torch.minimum(d_r, d_g), d_b)
    k = torch.minimum((1 - y) / d_max.clamp_min(_GAMUT_EPS), y / (-d_min).clamp_min(_GAMUT_EPS)).clamp(max=1.0)
    return (y + k * torch.cat([d_r, d_g, d_b], dim=1)).clamp(0, 1)
