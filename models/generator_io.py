"""What every generator does around its network: check the inputs, pad and crop, the output head.

Shared by the generator types so the promises of the head (luminance exact outside the hole,
any image size, `hole_blur` and `gray_snap` only in eval mode) hold whatever network sits in the middle.
"""

from __future__ import annotations

from typing import Callable

import torch

from models.heads import OutputHead, gray_snap, hole_blur
from models.layers import pad_to_multiple


def check_gray_mask(gray: torch.Tensor, mask: torch.Tensor) -> None:
    if gray.shape != mask.shape or gray.dim() != 4 or gray.shape[1] != 1:
        raise ValueError(f"expected gray and mask both Bx1xHxW, got {tuple(gray.shape)} and {tuple(mask.shape)}")


def padded(net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, multiple: int, pad_mode: str) -> torch.Tensor:
    """`net(x)` on `x` padded at the bottom and right to a multiple of `multiple`; not cropped:
    the head crops (`finish`), after chroma_bins has used the padded blocks."""
    return net(pad_to_multiple(x, multiple, pad_mode))


def finish(raw: torch.Tensor, gray: torch.Tensor, mask: torch.Tensor, head: OutputHead, blur: float, snap: float,
           training: bool, with_logits: bool) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
    """The head on the (padded) raw channels, giving gray's size, then (eval mode only) the hole's blur and the gray
    snap, in that order: a pixel snapped to exact gray stays exactly gray.

    RGB alone, or (RGB, chroma-bin logits or None) when `with_logits`: the trainer asks for the
    logits for the chroma cross-entropy; inference, export and EMA only ever see RGB.
    """
    rgb, logits = head(raw, gray, mask, with_logits)
    rgb = rgb if training else gray_snap(hole_blur(rgb, mask, blur), snap)
    return (rgb, logits) if with_logits else rgb
