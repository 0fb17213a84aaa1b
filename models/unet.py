"""The pix2pix U-Net, the generator built on it, and the learned mask net built on it.

Layout as in pix2pix (Isola et al. 2017, `UnetGenerator`): every encoder level is a 4x4 stride-2
convolution (LeakyReLU 0.2 before it), every decoder level a 2x upsampling (ReLU before it), and
each decoder level sees the matching encoder output through a skip connection. The innermost and
outermost levels have no normalisation (the innermost is 1x1 at pix2pix's size, where batch or
instance statistics are undefined for one image).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from models.generator_io import check_gray_mask, finish, padded
from models.config import GeneratorConfig
from models.heads import OutputHead
from models.layers import concat_channels, conv_bias, norm_layer, pad_to_multiple
from models.registry import register

MAX_WIDTH_FACTOR = 8  # pix2pix caps the channel count at 8 x base_channels


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a skip; zero padding and no norm so it works at a 1x1 bottleneck."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _upconv(upsample: str, cin: int, cout: int, bias: bool) -> nn.Module:
    """2x upsampling: transposed conv (pix2pix) or nearest resize + conv (no checkerboard)."""
    if upsample == "transpose":
        return nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=bias)
    if upsample == "resize":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1, bias=bias))
    raise ValueError(f"upsample {upsample!r}: expected transpose or resize")


class UNet(nn.Module):
    """A plain U-Net on NCHW inputs whose sides are multiples of 2**depth; raw (linear) outputs."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        base_channels: int,
        depth: int,
        norm: str,
        upsample: str,
        dropout: float = 0.0,
        dropout_levels: int = 0,
        bottleneck_blocks: int = 0,
    ) -> None:
        super().__init__()
        ch = [base_channels * min(2**i, MAX_WIDTH_FACTOR) for i in range(depth)]
        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        for i in range(depth):
            self.downs.append(self._down(i, depth, in_channels if i == 0 else ch[i - 1], ch[i], norm))
        self.bottleneck = nn.Sequential(*(ResidualBlock(ch[-1]) for _ in range(bottleneck_blocks)))
        dropped = range(max(1, depth - 1 - dropout_levels), depth - 1)
        for i in range(depth):
            cin = ch[i] if i == depth - 1 else 2 * ch[i]
            cout = ch[i - 1] if i > 0 else out_channels
            p = dropout if i in dropped else 0.0
            self.ups.append(self._up(cin, cout, norm if i > 0 else None, upsample, p))

    @staticmethod
    def _down(i: int, depth: int, cin: int, cout: int, norm: str) -> nn.Module:
        layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
        has_norm = 0 < i < depth - 1
        layers.append(nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=conv_bias(norm) or not has_norm))
        if has_norm:
            layers.append(norm_layer(norm, cout))
        return nn.Sequential(*layers)

    @staticmethod
    def _up(cin: int, cout: int, norm: str | None, upsample: str, dropout: float) -> nn.Module:
        # In place, as in pix2pix: the ReLU's input is always a fresh tensor (the concatenation, or
        # the innermost convolution's output, whose backward does not need it), so nothing that
        # autograd or a skip connection still reads is overwritten; saves a full-size copy per level.
        layers: list[nn.Module] = [nn.ReLU(inplace=True), _upconv(upsample, cin, cout, bias=norm is None or conv_bias(norm))]
        if norm is not None:
            layers.append(norm_layer(norm, cout))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.ups[-1](self.bottleneck(x))
        for i in range(len(self.ups) - 2, -1, -1):
            x = self.ups[i](concat_channels(skips[i], x))
        return x


@register("generator", "unet")
class UNetGenerator(nn.Module):
    """`G(gray, mask) -> RGB`: gray and mask Bx1xHxW (gray in [0,1], mask {0,1}), RGB Bx3xHxW in [0,1].

    Any H and W: the input is padded to a multiple of 2**depth and the output cropped back.
    Dropout (pix2pix's noise) and `gray_snap` follow the module mode: train mode is stochastic,
    eval mode deterministic, so inference and validation reproduce exactly.
    """

    def __init__(
        self,
        base_channels: int = 64,
        depth: int = 8,
        norm: str = "batch",
        dropout: float = 0.5,
        dropout_levels: int = 3,
        upsample: str = "transpose",
        bottleneck_blocks: int = 0,
        mask_channel: bool = True,
        head: str = "luma_composite",
        chroma_bins: int = GeneratorConfig.chroma_bins,
        chroma_temperature: float = GeneratorConfig.chroma_temperature,
        chroma_scale: int = GeneratorConfig.chroma_scale,
        gray_snap: float = 0.0,
        hole_blur: float = 0.0,
        pad_mode: str = "reflect",
    ) -> None:
        super().__init__()
        self.depth = depth
        self.mask_channel = mask_channel
        self.head = head
        self.output_head = OutputHead(head, chroma_bins, chroma_temperature, chroma_scale)
        self.gray_snap, self.hole_blur = gray_snap, hole_blur
        self.pad_mode = pad_mode
        self.net = UNet(
            in_channels=2 if mask_channel else 1,
            out_channels=self.output_head.raw_channels,
            base_channels=base_channels,
            depth=depth,
            norm=norm,
            upsample=upsample,
            dropout=dropout,
            dropout_levels=dropout_levels,
            bottleneck_blocks=bottleneck_blocks,
        )

    def forward(self, gray: torch.Tensor, mask: torch.Tensor, with_logits: bool = False) -> Any:
        """RGB; or (RGB, chroma-bin logits or None) with `with_logits` (models/generator_io.finish)."""
        check_gray_mask(gray, mask)
        x = gray * 2 - 1  # pix2pix works in [-1, 1]
        if self.mask_channel:
            x = torch.cat([x, mask * 2 - 1], dim=1)
        raw = padded(self.net, x, 2**self.depth, self.pad_mode)
        return finish(raw, gray, mask, self.output_head, self.hole_blur, self.gray_snap, self.training, with_logits)


@register("mask_net", "unet")
class UNetMaskNet(nn.Module):
    """`M(raw_gray) -> hole logits`, Bx1xHxW -> Bx1xHxW: predicts the lost region from the damaged gray alone.

    Logits, not probabilities, so the trainer can use the numerically stable BCE-with-logits.
    Any H and W (padded inside, cropped back).
    """

    def __init__(self, base_channels: int = 16, depth: int = 6, norm: str = "batch", upsample: str = "resize") -> None:
        super().__init__()
        self.depth = depth
        self.net = UNet(1, 1, base_channels, depth, norm, upsample)

    def forward(self, gray: torch.Tensor) -> torch.Tensor:
        h, w = gray.shape[-2:]
        return self.net(pad_to_multiple(gray * 2 - 1, 2**self.depth, "reflect"))[..., :h, :w]
