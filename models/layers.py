"""Building blocks shared by the networks: normalisation choice and size padding."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def norm_layer(norm: str, channels: int) -> nn.Module:
    """The normalisation layer `norm` names (batch, instance or none) for `channels` channels."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        # pix2pix's choice: no affine parameters and no running statistics.
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"norm {norm!r}: expected batch, instance or none")


def conv_bias(norm: str) -> bool:
    """Whether a convolution followed by `norm` needs its own bias.

    Batch norm subtracts the mean and adds its own shift, so a bias before it is wasted (pix2pix
    also drops it there); instance norm without affine and no norm at all do need it.
    """
    return norm != "batch"


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str) -> torch.Tensor:
    """Pad the bottom and right of NCHW `x` so H and W are multiples of `multiple`.

    Reflect padding needs the pad to be smaller than the image side; for tiny images it falls
    back to replicate rather than failing, since both keep the border statistics plausible.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    if mode == "reflect" and (ph >= h or pw >= w):
        mode = "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)
