"""The conditional PatchGAN discriminator (pix2pix), optionally spectral-normalised and multi-scale."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as add_spectral_norm

from models.layers import conv_bias, norm_layer
from models.registry import register

MAX_WIDTH_FACTOR = 8  # pix2pix caps the channel count at 8 x base_channels


def receptive_field(n_layers: int) -> int:
    """Side of the input patch one logit sees: n_layers 4x4 stride-2 convs, then two 4x4 stride-1."""
    return 9 * 2**n_layers - 2


class NLayerPatchGAN(nn.Module):
    """One PatchGAN: a grid of real/fake logits, each judging one input patch.

    With `n_layers` = 3 (pix2pix's default) each logit sees a 70x70 patch: the discriminator
    judges texture and local colour, and leaves global structure to the L1/SSIM losses.
    `forward` returns every block's output with the logits last, so a feature-matching loss
    (pix2pixHD) can compare the intermediate features of real and fake pairs.
    """

    def __init__(self, in_channels: int, base_channels: int, n_layers: int, norm: str, spectral_norm: bool) -> None:
        super().__init__()
        sn = add_spectral_norm if spectral_norm else (lambda m: m)
        width = [base_channels * min(2**n, MAX_WIDTH_FACTOR) for n in range(n_layers + 1)]
        blocks = [nn.Sequential(sn(nn.Conv2d(in_channels, width[0], 4, stride=2, padding=1)), nn.LeakyReLU(0.2))]
        for n in range(1, n_layers + 1):
            stride = 2 if n < n_layers else 1
            conv = nn.Conv2d(width[n - 1], width[n], 4, stride=stride, padding=1, bias=conv_bias(norm))
            blocks.append(nn.Sequential(sn(conv), norm_layer(norm, width[n]), nn.LeakyReLU(0.2)))
        blocks.append(nn.Sequential(sn(nn.Conv2d(width[-1], 1, 4, stride=1, padding=1))))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features


@register("discriminator", "patchgan")
class PatchGAN(nn.Module):
    """Conditional PatchGAN: `D(gray, rgb, mask) -> list[list[Tensor]]`, one list per scale.

    The gray input is concatenated with the real or generated RGB, so D judges whether the
    colour fits that gray picture (pix2pix), not only whether it looks real. With `sees_mask` the
    hole mask is concatenated too: the gray input there is only the pre-fill, and a D told where
    the generator invented the luma can judge the hole's texture against the ring around it
    instead of first having to find the hole (LaMa's discriminator gets the mask the same way).
    Without it the mask argument is ignored.

    Each scale's list holds that PatchGAN's intermediate feature maps with the final patch logits
    LAST (pix2pixHD).
    Scale 0 sees the full-size pair; scale k an average-pooled 2**k-times smaller one, with its
    own weights. `n_layers` = 3 gives a 70x70 receptive field per logit at scale 0.
    """

    def __init__(
        self,
        base_channels: int = 64,
        n_layers: int = 3,
        norm: str = "batch",
        spectral_norm: bool = False,
        num_scales: int = 1,
        sees_mask: bool = False,
    ) -> None:
        super().__init__()
        self.sees_mask = sees_mask
        in_channels = 5 if sees_mask else 4
        self.scales = nn.ModuleList(
            NLayerPatchGAN(in_channels, base_channels, n_layers, norm, spectral_norm) for _ in range(num_scales)
        )

    def forward(self, gray: torch.Tensor, rgb: torch.Tensor, mask: torch.Tensor | None = None) -> list[list[torch.Tensor]]:
        parts = [gray, rgb]
        if self.sees_mask:
            if mask is None:
                raise ValueError("PatchGAN(sees_mask=True) needs the hole mask: D(gray, rgb, mask)")
            parts = [gray, mask.to(gray.dtype), rgb]
        x = torch.cat(parts, dim=1) * 2 - 1  # pix2pix works in [-1, 1]
        outputs = []
        for k, net in enumerate(self.scales):
            if k > 0:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(net(x))
        return outputs
