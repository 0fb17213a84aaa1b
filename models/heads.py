"""Output heads: the generator's raw channels -> an RGB photo in [0, 1].

`luma_composite` is the default because luminance outside the hole is known exactly (the input
is PIL L of the original there): predicting Y/Cb/Cr and pasting the input's gray as Y outside
the mask makes the structure there exact, leaving the network only colour and the hole.
"""

from __future__ import annotations

import math

import torch
from kornia.color import rgb_to_hsv
from kornia.filters import gaussian_blur2d
from torch import nn

from models.chroma_bins import ChromaBinsHead
from models.composite import composite_luma, composite_rgb
from models.config import GeneratorConfig
from utils.color import luma, ycbcr_to_rgb_in_gamut

HEADS = ("rgb", "luma_composite", "luma_gate", "chroma_bins")
# Raw channels of the parameter-free heads (chroma_bins says its own: ChromaBinsHead.raw_channels).
_RAW_CHANNELS = {"rgb": 3, "luma_composite": 3, "luma_gate": 4}


def rgb_head(raw: torch.Tensor) -> torch.Tensor:
    """pix2pix's output: tanh, mapped from [-1, 1] to [0, 1]."""
    return (torch.tanh(raw) + 1) / 2


def luma_composite_head(raw: torch.Tensor, gray: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Y, Cb, Cr from `raw`; Y := `gray` outside `mask`; to RGB in [0, 1] (models/composite.py).

    Inside the hole Y is a residual on the network's gray input, which is already pre-filled
    (Telea by default): an untrained network (raw ~ 0) returns the pre-fill in gray, the classical
    baseline, and training only has to improve on it. Chroma is 0.5 + tanh(raw) / 2, gray at
    raw = 0. Luma(RGB) == gray exactly outside the hole (chroma is kept in gamut, not clipped);
    rounding each channel to 8 bits then moves PIL L by at most 1 level.
    """
    # One tanh over all three channels: slicing a channel out of a channels_last tensor first
    # gives a strided view that tanh walks ~10x slower (benchmarks/bench_infer.py).
    squashed = torch.tanh(raw.float())
    return composite_rgb(gray, mask, squashed[:, :1], (squashed[:, 1:] + 1) / 2)


def luma_gate_head(raw: torch.Tensor, gray: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`luma_composite` with a 4th raw channel: a per-pixel gate that sends unsure pixels to exact gray.

    The gate is hard in the forward pass (chroma kept where sigmoid(raw[3]) > 0.5, exact gray
    Cb = Cr = 0.5 elsewhere, so R = G = B and OpenCV bins the pixel as hue 0) and soft in the
    backward pass (straight-through): the gradient is that of the soft version, chroma scaled
    by the gate's probability, so the hue-histogram term learns where a colour guess pays (a
    faint wrong tint scatters hue across bins, exact gray does not), and the chroma behind a
    closed gate keeps learning, which it must to ever reopen it. A closed pixel is R = G = B = Y
    bit for bit, not through the YCbCr round trip (which misses by float rounding). Train and
    eval modes behave the same, so validation scores what inference returns.
    """
    squashed = torch.tanh(raw[:, :3].float())
    soft = torch.sigmoid(raw[:, 3:4].float())
    y = composite_luma(gray, mask, squashed[:, :1])
    soft_rgb = ycbcr_to_rgb_in_gamut(y, 0.5 + squashed[:, 1:] * soft / 2)
    hard_rgb = torch.where(soft > 0.5, ycbcr_to_rgb_in_gamut(y, 0.5 + squashed[:, 1:] / 2), y.expand_as(soft_rgb))
    return hard_rgb.detach() + (soft_rgb - soft_rgb.detach())


class OutputHead(nn.Module):
    """The `model.generator.head` by name: how many raw channels it takes, and raw -> (RGB, logits).

    Logits are the chroma-bin logits of `chroma_bins` (for its cross-entropy, losses/chroma_ce.py)
    and None for the other heads. Only `chroma_bins` has weights, so checkpoints of the other
    heads hold no key for it.
    """

    def __init__(self, head: str, chroma_bins: int = GeneratorConfig.chroma_bins,
                 chroma_temperature: float = GeneratorConfig.chroma_temperature,
                 chroma_scale: int = GeneratorConfig.chroma_scale) -> None:
        """The chroma options are model.generator's (validated there, defaults there)."""
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head {head!r}: expected one of {', '.join(HEADS)}")
        self.name = head
        self.bins = ChromaBinsHead(chroma_bins, chroma_temperature, chroma_scale) if head == "chroma_bins" else None
        self.raw_channels = self.bins.raw_channels if self.bins is not None else _RAW_CHANNELS[head]

    def forward(self, raw: torch.Tensor, gray: torch.Tensor, mask: torch.Tensor,
                with_logits: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`raw` may be larger than `gray` (the generator's padding, at the bottom and right): RGB is gray's size.

        `chroma_bins` sees the padded raw so that its blocks (chroma_scale) start at the top left
        of the padded image, as in an ONNX export (which pads outside the graph); the per-pixel
        heads only see gray's area. `with_logits` false lets chroma_bins skip materialising them
        at inference (it returns None then).
        """
        if self.bins is not None:
            return self.bins(raw, gray, mask, with_logits)
        raw = raw[..., :gray.shape[-2], :gray.shape[-1]]
        if self.name == "rgb":
            return rgb_head(raw), None
        if self.name == "luma_gate":
            return luma_gate_head(raw, gray, mask), None
        return luma_composite_head(raw, gray, mask), None


def gray_snap(rgb: torch.Tensor, threshold: float) -> torch.Tensor:
    """Pixels with HSV saturation below `threshold` become exactly gray (R = G = B = luma).

    The competition's HIST term bins hue over every pixel: an exact gray lands in bin 0, while a
    faint, probably wrong tint scatters across many bins. Using the pixel's own luma keeps the
    luminance guarantee of the composite head intact.
    """
    if threshold <= 0:
        return rgb
    saturation = rgb_to_hsv(rgb)[:, 1:2]
    gray = luma(rgb).expand_as(rgb)
    return torch.where(saturation < threshold, gray, rgb)


def hole_blur(rgb: torch.Tensor, mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """`rgb` with the pixels under `mask` (Bx1xHxW, 1 = lost) replaced by its Gaussian blur of `sigma` px.

    The score's SSIM_lost slides a 7-pixel window along the hole's rows: deep in a hole the
    network's pixel-level texture is a guess, and SSIM rewards a guess's variance shrinking toward
    its local mean. Known pixels are never changed, so their exact luminance stays exact.
    """
    if sigma <= 0:
        return rgb
    radius = max(1, math.ceil(3 * sigma))
    blurred = gaussian_blur2d(rgb, (2 * radius + 1, 2 * radius + 1), (sigma, sigma), border_type="reflect")
    return torch.where(mask > 0.5, blurred, rgb)
