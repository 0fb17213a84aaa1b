"""Differentiable twin of the score's HIST term: correlation of 180-bin hue histograms.

HIST = cv2.compareHist(HISTCMP_CORREL) of the OpenCV 8-bit hue histograms (H = degrees / 2,
bins 0..179) of ground truth and prediction, over the whole image. This module rebuilds those
histograms softly so gradients flow back to the prediction:

- hue from kornia's HSV conversion, in bin units, with bin k centred on k exactly as OpenCV
  rounds H to an integer; each pixel splits its count linearly between the two nearest bins
  (circularly: bin 179 neighbours bin 0), a triangular kernel that scatter-adds in O(pixels);
- gray pixels: OpenCV gives an exactly gray pixel (max == min) hue 0, so it lands in bin 0 (red),
  while a pixel one gray level away from gray already counts fully at its hue. We mirror that
  softly: a pixel with chroma c (max - min, in 8-bit levels) sends min(c / gray_tolerance, 1) of
  its count to its hue bins and the rest to bin 0. The linear ramp also keeps the gradient
  bounded where the hue of a nearly gray pixel is ill-defined (d hue / d rgb ~ 1 / chroma);
- optionally both histograms are smoothed with a circular Gaussian over bins, so a hue that is
  a few bins off still gets a gradient towards the right one;
- loss = 1 - Pearson correlation of the two histograms (exactly HISTCMP_CORREL), per image,
  then the batch mean; 0 for identical images.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.color import rgb_to_hsv
from torch import Tensor, nn

BINS = 180


def soft_hue_histogram(rgb: Tensor, gray_tolerance: float = 1.0) -> Tensor:
    """B x 180 normalised soft hue histograms (each sums to 1) of RGB images in [0, 1]."""
    batch = rgb.shape[0]
    hue = rgb_to_hsv(rgb)[:, 0].reshape(batch, -1) * (BINS / (2 * math.pi))  # [0, 180)
    chroma = (rgb.amax(dim=1) - rgb.amin(dim=1)).reshape(batch, -1) * 255.0
    colour = (chroma / gray_tolerance).clamp(max=1.0)
    lower = hue.floor()
    frac = hue - lower
    lower_bin = lower.long() % BINS
    upper_bin = (lower_bin + 1) % BINS
    hist = rgb.new_zeros(batch, BINS)
    hist = hist.scatter_add(1, lower_bin, colour * (1.0 - frac))
    hist = hist.scatter_add(1, upper_bin, colour * frac)
    hist[:, 0] = hist[:, 0] + (1.0 - colour).sum(dim=1)
    return hist / hue.shape[1]


def smooth_histogram(hist: Tensor, sigma_bins: float) -> Tensor:
    """Circular Gaussian smoothing over bins (identity when sigma_bins == 0)."""
    if sigma_bins == 0:
        return hist
    radius = max(1, math.ceil(3 * sigma_bins))
    offsets = torch.arange(-radius, radius + 1, device=hist.device, dtype=hist.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma_bins) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    padded = F.pad(hist.unsqueeze(1), (radius, radius), mode="circular")
    return F.conv1d(padded, kernel).squeeze(1)


def histogram_correlation(a: Tensor, b: Tensor, eps: float = 1e-12) -> Tensor:
    """Per-row Pearson correlation, the formula of cv2.HISTCMP_CORREL."""
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / torch.sqrt((a.square().sum(dim=1) * b.square().sum(dim=1)).clamp_min(eps))


class HueHistogramLoss(nn.Module):
    """1 - correlation of soft hue histograms of prediction and target, averaged over the batch."""

    def __init__(self, gray_tolerance: float = 1.0, sigma_bins: float = 1.0) -> None:
        super().__init__()
        self.gray_tolerance = gray_tolerance
        self.sigma_bins = sigma_bins

    def histogram(self, rgb: Tensor) -> Tensor:
        return smooth_histogram(soft_hue_histogram(rgb, self.gray_tolerance), self.sigma_bins)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        # Hue divides by chroma: keep it in float32 even under mixed precision.
        with torch.autocast(device_type=pred.device.type, enabled=False):
            pred_hist = self.histogram(pred.float())
            with torch.no_grad():
                target_hist = self.histogram(target.float())
            return (1.0 - histogram_correlation(pred_hist, target_hist)).mean()
