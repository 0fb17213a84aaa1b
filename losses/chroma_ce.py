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

With model.generator.chroma_scale s > 1 the logits are at 1/s of the image's resolution; their
target is then the true chroma averaged over the same s x s blocks (models/chroma_bins.area_downsample).
The class dimension is handled as the last dimension of a (B, H, W, classes) view, the layout
the head writes in channels_last, so nothing is copied; the cross-entropy and its gradient are
written out (SoftTargetCrossEntropy) to pass over the bins^2-wide logits as few times as possible.
"""

from __future__ import annotations

import torch
from kornia.filters import gaussian_blur2d
from torch import Tensor, nn

from models.chroma_bins import ChromaGrid, area_downsample
from utils.color import rgb_to_ycbcr

PRIOR_SIGMA_BINS = 1.0  # smoothing of the batch histogram over the (Cb, Cr) grid, in bins


class SoftTargetCrossEntropy(torch.autograd.Function):
    """Per-pixel cross-entropy of classes-last logits against targets spread over a few classes each.

    -sum_k w_k log_softmax(z)[i_k] = logsumexp(z) - sum_k w_k z[i_k] (the weights sum to 1). Autograd's
    own graph (log_softmax, gather) keeps a bins^2-wide log-probability tensor, and gather's
    backward zero-fills another one before scattering into it; here the backward builds
    softmax(z) * g in place and subtracts the targets' w * g at their 4 classes.
    """

    @staticmethod
    def forward(ctx, logits: Tensor, indices: Tensor, weights: Tensor) -> Tensor:  # type: ignore[override]
        """logits: ... x classes; indices, weights: ... x k. Returns the ... cross-entropies."""
        lse = torch.logsumexp(logits, dim=-1)
        ctx.save_for_backward(logits, lse, indices, weights)
        return lse - (weights * logits.gather(-1, indices)).sum(dim=-1)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        logits, lse, indices, weights = ctx.saved_tensors
        grad_logits = (logits - lse.unsqueeze(-1)).exp_().mul_(grad.unsqueeze(-1))
        return grad_logits.scatter_add_(-1, indices, -weights * grad.unsqueeze(-1)), None, None


class ChromaClassLoss(nn.Module):
    """Mean over (block) pixels of weight(target) * cross-entropy(logits, soft target).

    `bins`, `rebalance` and `scale` are the config's (checked there: odd bins, lambda in 0..1, scale 1, 2 or 4).
    """

    def __init__(self, bins: int, rebalance: float, scale: int = 1) -> None:
        super().__init__()
        self.grid = ChromaGrid(bins)
        self.rebalance = rebalance
        self.scale = scale

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """logits: B x bins^2 x ceil(H / scale) x ceil(W / scale); target: Bx3xHxW RGB in [0, 1]."""
        with torch.autocast(device_type=logits.device.type, enabled=False):
            chroma = area_downsample(rgb_to_ycbcr(target.float())[:, 1:], self.scale)
            if chroma.shape[-2:] != logits.shape[-2:]:
                raise ValueError(f"chroma_ce: logits of {tuple(logits.shape[-2:])} pixels for a target of "
                                 f"{tuple(target.shape[-2:])} at chroma_scale {self.scale}, expected {tuple(chroma.shape[-2:])}")
            indices, weights = self.grid.soft_targets(chroma)
            ce = SoftTargetCrossEntropy.apply(logits.permute(0, 2, 3, 1).float(), indices.permute(0, 2, 3, 1),
                                              weights.permute(0, 2, 3, 1))
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
