"""SSIM loss (1 - SSIM) on RGB in [0, 1], via pytorch-msssim.

Single-scale SSIM on purpose: pytorch-msssim's MS-SSIM needs images larger than
(win_size - 1) * 16 pixels (160 for the usual 11-pixel window), far above the 32..256 pixel
training crops. Single-scale SSIM only needs the image to be at least one window wide; smaller
inputs would make pytorch-msssim silently skip its blur, so they raise a clear error instead.
"""

from __future__ import annotations

import torch
from pytorch_msssim import ssim
from torch import Tensor, nn

from utils.errors import ChromaFillError


class SSIMLoss(nn.Module):
    """1 - SSIM(pred, target), the mean over images and channels; 0 for identical images."""

    def __init__(self, win_size: int = 11, win_sigma: float = 1.5) -> None:
        super().__init__()
        self.win_size = win_size
        self.win_sigma = win_sigma

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        height, width = pred.shape[-2:]
        if min(height, width) < self.win_size:
            raise ChromaFillError(
                f"loss.ssim.win_size: the {self.win_size}-pixel SSIM window does not fit a {height}x{width} image; "
                f"use a win_size <= {min(height, width)} (odd) or larger crops"
            )
        # SSIM divides small variances: compute it in float32 even under mixed precision.
        with torch.autocast(device_type=pred.device.type, enabled=False):
            value = ssim(pred.float(), target.float(), data_range=1.0, size_average=True,
                         win_size=self.win_size, win_sigma=self.win_sigma)
        return 1.0 - value
