"""Per-pixel losses (L1, MSE, Charbonnier) with an optional per-pixel weight map.

The weight map is how the lost region gets emphasis (see :func:`mask_weights`): the loss is the
mean of ``weight * error`` over every pixel and channel, so with all weights 1 it is the plain mean.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

PixelType = Literal["l1", "mse", "charbonnier"]


def mask_weights(mask: Tensor | None, mask_weight: float) -> Tensor | None:
    """Per-pixel weights, Bx1xHxW: `mask_weight` inside the lost region, 1 outside.

    Returns None when there is nothing to emphasise (no mask, or mask_weight == 1) so callers
    skip the multiplication entirely.
    """
    if mask is None or mask_weight == 1.0:
        return None
    return 1.0 + (mask_weight - 1.0) * mask


def weighted_mean(error: Tensor, weights: Tensor | None) -> Tensor:
    """Mean of a per-pixel error map, each pixel scaled by `weights` (broadcast over channels)."""
    if weights is None:
        return error.mean()
    return (error * weights).mean()


class PixelLoss(nn.Module):
    """L1 (pix2pix's default: sharp, robust), MSE, or Charbonnier (differentiable at 0).

    Charbonnier is shifted by -eps so identical images give exactly 0, like the other two.
    """

    def __init__(self, kind: PixelType = "l1", eps: float = 1e-3) -> None:
        super().__init__()
        self.kind = kind
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor, weights: Tensor | None = None) -> Tensor:
        diff = pred - target
        if self.kind == "l1":
            error = diff.abs()
        elif self.kind == "mse":
            error = diff.square()
        else:
            error = torch.sqrt(diff.square() + self.eps**2) - self.eps
        return weighted_mean(error, weights)
