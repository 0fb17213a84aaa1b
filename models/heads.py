"""Output heads: the generator's raw 3 channels -> an RGB photo in [0, 1].

`luma_composite` is the default because luminance outside the hole is known exactly (the input
is PIL L of the original there): predicting Y/Cb/Cr and pasting the input's gray as Y outside
the mask makes the structure there exact, leaving the network only colour and the hole.
"""

from __future__ import annotations

import torch
from kornia.color import rgb_to_hsv

from utils.color import luma, ycbcr_to_rgb

HEADS = ("rgb", "luma_composite")


def rgb_head(raw: torch.Tensor) -> torch.Tensor:
    """pix2pix's output: tanh, mapped from [-1, 1] to [0, 1]."""
    return (torch.tanh(raw) + 1) / 2


def luma_composite_head(raw: torch.Tensor, gray: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Y, Cb, Cr from `raw`; Y := `gray` outside `mask`; to RGB, clamped to [0, 1].

    Inside the hole Y is a residual on the network's gray input, which is already pre-filled
    (Telea by default): an untrained network (raw ~ 0) returns the pre-fill in gray, the classical
    baseline, and training only has to improve on it. Chroma is 0.5 + tanh(raw) / 2, gray at
    raw = 0. Since the luma weights sum to 1, luma(RGB) == gray exactly outside the hole before
    clamping; rounding each channel to 8 bits then moves PIL L by at most 1 level.
    """
    # One tanh over all three channels: slicing a channel out of a channels_last tensor first
    # gives a strided view that tanh walks ~10x slower (benchmarks/bench_infer.py).
    squashed = torch.tanh(raw)
    y = gray + mask * squashed[:, :1]
    chroma = (squashed[:, 1:] + 1) / 2
    return ycbcr_to_rgb(torch.cat([y, chroma], dim=1)).clamp(0, 1)


def apply_head(head: str, raw: torch.Tensor, gray: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Dispatch on the `model.generator.head` name."""
    if head == "rgb":
        return rgb_head(raw)
    if head == "luma_composite":
        return luma_composite_head(raw, gray, mask)
    raise ValueError(f"head {head!r}: expected one of {', '.join(HEADS)}")


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
