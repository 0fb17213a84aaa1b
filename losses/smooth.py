"""Gaussian smoothness loss: MSE between Gaussian-blurred prediction and target.

Blurring removes texture and keeps the low-frequency colour, so this term asks for the right
colour in each neighbourhood without punishing a plausible but differently placed detail.
"""

from __future__ import annotations

from kornia.filters import gaussian_blur2d
from torch import Tensor, nn

from losses.pixel import weighted_mean


class GaussianSmoothLoss(nn.Module):
    """Mean squared difference of the blurred images, optionally weighted per pixel."""

    def __init__(self, kernel_size: int = 15, sigma: float = 3.0) -> None:
        super().__init__()
        self.kernel_size = (kernel_size, kernel_size)
        self.sigma = (sigma, sigma)

    def blur(self, image: Tensor) -> Tensor:
        return gaussian_blur2d(image, self.kernel_size, self.sigma, border_type="reflect")

    def forward(self, pred: Tensor, target: Tensor, weights: Tensor | None = None) -> Tensor:
        # blur(pred) - blur(target) == blur(pred - target): the blur (reflect padding included) is
        # linear, so one blur per step instead of two.
        return weighted_mean(self.blur(pred - target).square(), weights)
