"""The luminance guarantee of the Y/Cb/Cr heads, written once for all of them.

The input is PIL L of the original outside the lost region (docs/task.md), so the heads
`luma_composite`, `luma_gate` and `chroma_bins` paste it back as Y there and predict only a
residual on the (pre-filled) gray inside the hole; chroma is brought into the RGB gamut at that
Y rather than clipped afterwards (utils/color.ycbcr_to_rgb_in_gamut), so the 8-bit output's
PIL L equals the input within one rounding level on every pixel outside the hole.
"""

from __future__ import annotations

import torch

from utils.color import ycbcr_to_rgb_in_gamut


def composite_luma(gray: torch.Tensor, mask: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """Y: `gray` outside `mask`, `gray + residual` inside, clamped to [0, 1] (Bx1xHxW, float32)."""
    return (gray + mask * residual.float()).clamp(0, 1)


def composite_rgb(gray: torch.Tensor, mask: torch.Tensor, residual: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] of the composite Y (:func:`composite_luma`) and Bx2xHxW (Cb, Cr), chroma kept in gamut."""
    return ycbcr_to_rgb_in_gamut(composite_luma(gray, mask, residual), chroma.float())
