"""Rebalanced cross-entropy of the `chroma_bins` head's logits against the true chroma.

Zhang et al. 2016: the classification only yields vivid colour if the rare, saturated bins are
not drowned by the common near-gray ones, so each pixel's cross-entropy is weighted by
1 / ((1 - lambda) * p(bin) + lambda / bins^2) (bins per axis: 1 / bins^2 is the uniform
probability over the grid's `ChromaGrid.count` classes), normalised to a mean weight of 1 over
the batch's pixels (so the term keeps the scale of a plain cross-entropy whatever lambda is). Here p is
the chroma histogram of the batch's targets (smoothed over neighbouring bins), not a prior over
the whole dataset: it needs no pass over the data nor state to checkpoint, so a resumed run
computes exactly what an uninterrupted one does. The target of a pixel is its true (Cb, Cr)
spread bilinearly over the 4 surrounding bins (models/chroma_bins.ChromaGrid.soft_targets).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from torch import Tensor, nn

from models.chroma_bins import ChromaGrid
from utils.color import rgb_to_ycbcr

PRIOR_SIGMA_BINS = 1.0  # smoothing of the batch histogram over the (Cb, Cr) grid, in bins


class ChromaClassLoss(nn.Module):
    """Mean over pixels of weight(target) * cross-entropy(logits, soft target)."""

    def __init__(self, bins: int, rebalance: float) -> None:
        super().__init__()
        if not 0.0 <= rebalance <= 1.0:
            raise ValueError(f"chroma_ce rebalance: got {rebalance}, expected 0..1")
        self.grid = ChromaGrid(bins)
        self.rebalance = rebalance

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """logits: B x bins^2 x H x W; target: Bx3xHxW RGB in [0, 1]."""
        with torch.autocast(device_type=logits.device.type, enabled=False):
            chroma = rgb_to_ycbcr(target.float())[:, 1:]
            indices, weights = self.grid.soft_targets(chroma)
            log_probs = F.log_softmax(logits.float(), dim=1)
            ce = -(weights * log_probs.gather(1, indices)).sum(dim=1)
            return (self.pixel_weights(indices, weights) * ce).mean()

    def pixel_weights(self, indices: Tensor, weights: Tensor) -> Tensor:
        """BxHxW class-rebalancing weights: sum over a pixel's 4 bins of target share x bin weight."""
        if self.rebalance >= 1.0:  # lambda = 1: the uniform mixture alone, every bin weighs the same
            return torch.ones_like(weights[:, 0])
        prior = torch.zeros(self.grid.count, device=weights.device).scatter_add_(0, indices.reshape(-1), weights.reshape(-1))
        prior = gaussian_blur2d(prior.view(1, 1, self.grid.bins, self.grid.bins), (5, 5),
                                (PRIOR_SIGMA_BINS, PRIOR_SIGMA_BINS), border_type="replicate").view(-1)
        prior = prior / prior.sum()
        bin_weight = 1.0 / ((1.0 - self.rebalance) * prior + self.rebalance / self.grid.count)
        pixel = (weights * bin_weight[indices]).sum(dim=1)
        return pixel / pixel.mean()
