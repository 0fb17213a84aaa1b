"""The score's SSIM_lost as a loss: 1 - the 1-D SSIM along the lost pixels, as the metric computes it.

The competition scores the hole with skimage's SSIM on `gt[mask], pred[mask]`: N x 3 arrays, so a
7-sample window slides along the lost pixels in row-major order (docs/task.md). That is not the
2-D SSIM of the `ssim` term: it compares short runs of neighbouring pixels within each row of the
hole, with constants from the whole prediction's range. This term computes exactly that, with
gradients, by the same function as the training loop's score (metrics.torch_score.ssim_mean), so
the generator is trained on the 40 % of the score that its pre-fill holds back, not on a proxy.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from metrics.competition import SSIM_WINDOW
from metrics.torch_score import ssim_mean
from utils.color import luma

MIN_RANGE = 1.0 / 255  # a flat prediction: the metric's own rule (1 if exact, else 0) has no gradient; use one level


def scale_chroma_gradient(rgb: Tensor, share: float) -> Tensor:
    """`rgb` unchanged in value, with the gradient through its colour (RGB minus its BT.601 luma) scaled by `share`.

    The luma_composite heads build RGB from Y and (Cb, Cr), and a change of Cb or Cr leaves the luma
    of RGB unchanged, so the gradient reaching Y stays whole and the one reaching the chroma is
    multiplied by `share`: a loss can train the hole's luminance harder than its colour.
    """
    if share == 1.0:
        return rgb
    chroma = rgb - luma(rgb)
    return rgb - (1.0 - share) * (chroma - chroma.detach())


class LostSSIMLoss(nn.Module):
    """1 - mean over the batch's images of SSIM_lost(pred, target); images with < 7 lost pixels are left out."""

    def __init__(self, chroma_share: float = 1.0) -> None:
        """chroma_share: the fraction of the gradient that reaches the colour (1 = all; see scale_chroma_gradient)."""
        super().__init__()
        if not 0.0 <= chroma_share <= 1.0:
            raise ValueError(f"LostSSIMLoss: chroma_share must be in [0, 1], got {chroma_share}")
        self.chroma_share = chroma_share

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """pred, target: Bx3xHxW RGB in [0, 1]; mask: Bx1xHxW, 1 in the lost region."""
        with torch.autocast(device_type=pred.device.type, enabled=False):
            pred, target = scale_chroma_gradient(pred.float(), self.chroma_share), target.float()
            lost = mask[:, 0] > 0.5
            counts = lost.flatten(1).sum(1).tolist()  # one host sync per step, not one per image
            values = []
            for b, count in enumerate(counts):
                if count < SSIM_WINDOW:
                    continue
                x, y = target[b][:, lost[b]].unsqueeze(0), pred[b][:, lost[b]].unsqueeze(0)  # 1 x 3 x N, row-major
                # The metric's data range is the whole prediction's; a constant, not something to train.
                data_range = (pred[b].detach().max() - pred[b].detach().min()).clamp_min(MIN_RANGE).view(1)
                values.append(ssim_mean(x, y, data_range))
            if not values:
                return pred.sum() * 0.0  # keeps the graph (DDP) with a zero gradient
            return 1.0 - torch.cat(values).mean()
