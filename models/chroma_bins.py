"""Colour as classification: a distribution over a grid of (Cb, Cr) bins per pixel.

Regressing chroma with L1 gives the mean of the plausible colours, which for an ambiguous
object (a car, a shirt) is a faint, desaturated tint. Zhang et al. 2016 ("Colorful Image
Colorization") instead predict a distribution over quantised colours, train it with a
rebalanced cross-entropy (losses/chroma_ce.py) and decode it with the *annealed mean*: the mean
of the distribution sharpened by a temperature T < 1, which sits between the mode (vivid but
patchy) and the mean (smooth but gray). Here the grid is over BT.601 (Cb, Cr), the chroma of the
`luma_composite` head, so luminance outside the hole stays exact.

The grid spans the whole [0, 1] x [0, 1] chroma square with an odd number of bins per axis, so
exact gray (0.5, 0.5) is a bin centre: a confident gray prediction decodes to exact gray.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from utils.color import ycbcr_to_rgb

# Channels the network hands to the head besides Y: a 1x1 convolution maps them to the logits,
# so the network's last (full-resolution, most expensive) layer stays narrow whatever the grid.
EMBED_CHANNELS = 16


class ChromaGrid:
    """`bins` x `bins` centres over [0, 1]^2, spacing 1 / (bins - 1); bin index = cb_index * bins + cr_index."""

    def __init__(self, bins: int) -> None:
        if bins < 3 or bins % 2 == 0:
            raise ValueError(f"chroma bins per axis: got {bins}, expected an odd number >= 3 (gray must be a bin centre)")
        self.bins = bins
        self.count = bins * bins
        # On the CPU explicitly: inference builds the generator under torch.device("meta"), and
        # the grid is a constant, not a weight that the checkpoint would fill in.
        axis = torch.linspace(0.0, 1.0, bins, device="cpu")
        cb, cr = torch.meshgrid(axis, axis, indexing="ij")
        self.centres = torch.stack([cb.reshape(-1), cr.reshape(-1)], dim=1)  # count x 2

    def soft_targets(self, chroma: Tensor) -> tuple[Tensor, Tensor]:
        """Bilinear encoding of Bx2xHxW chroma in [0, 1] onto its 4 surrounding bins.

        Returns (indices, weights), each Bx4xHxW; the weights sum to 1 per pixel, and the
        weighted mean of the 4 centres is the chroma itself (no quantisation error in the target).
        """
        position = chroma.clamp(0, 1) * (self.bins - 1)
        low = position.floor().clamp(max=self.bins - 2)
        frac = position - low
        low = low.long()
        cb_i, cr_i = low[:, :1], low[:, 1:]
        cb_f, cr_f = frac[:, :1], frac[:, 1:]
        indices = torch.cat([cb_i * self.bins + cr_i, cb_i * self.bins + cr_i + 1,
                             (cb_i + 1) * self.bins + cr_i, (cb_i + 1) * self.bins + cr_i + 1], dim=1)
        weights = torch.cat([(1 - cb_f) * (1 - cr_f), (1 - cb_f) * cr_f, cb_f * (1 - cr_f), cb_f * cr_f], dim=1)
        return indices, weights


class ChromaBinsHead(nn.Module):
    """Raw channels [Y residual, EMBED_CHANNELS features] -> RGB, through per-pixel chroma-bin logits.

    Y as in the `luma_composite` head (the input's gray outside the hole, a residual on the
    pre-fill inside); chroma is the annealed mean of softmax(logits / temperature) over the grid.
    """

    def __init__(self, bins: int, temperature: float) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"chroma temperature: got {temperature}, expected > 0")
        self.grid = ChromaGrid(bins)
        self.temperature = temperature
        self.raw_channels = 1 + EMBED_CHANNELS
        self.classifier = nn.Conv2d(EMBED_CHANNELS, self.grid.count, kernel_size=1)
        # The decode as a 1x1 convolution with the centres as weights (count -> 2 channels). Not a
        # buffer: it is a function of `bins`, which the config holds, and a buffer of a generator
        # built on the meta device (inference) would stay empty, the checkpoint not holding it.
        self.centre_weights = self.grid.centres.t().reshape(2, self.grid.count, 1, 1).contiguous()

    def logits(self, raw: Tensor) -> Tensor:
        """Bx(bins^2)xHxW chroma-bin logits (float32: softmax and cross-entropy need the range)."""
        return self.classifier(F.silu(raw[:, 1:])).float()

    def decode(self, logits: Tensor) -> Tensor:
        """Annealed mean: Bx2xHxW (Cb, Cr) in [0, 1]."""
        # float32 even under autocast: a bf16 mean would move chroma by a level and gray off gray.
        with torch.autocast(device_type=logits.device.type, enabled=False):
            probs = torch.softmax(logits.float() / self.temperature, dim=1)
            return F.conv2d(probs, self.centre_weights.to(probs.device))

    def forward(self, raw: Tensor, gray: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(RGB in [0, 1], logits)."""
        logits = self.logits(raw)
        y = gray + mask * torch.tanh(raw[:, :1].float())
        rgb = ycbcr_to_rgb(torch.cat([y, self.decode(logits)], dim=1)).clamp(0, 1)
        return rgb, logits
