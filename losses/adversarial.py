"""GAN objectives (vanilla, LSGAN, hinge) on multi-scale PatchGAN outputs.

A discriminator returns one list per scale holding its intermediate feature maps with the patch
logits LAST (the pix2pixHD convention); every loss here uses only those logits and averages
the per-scale losses so the total does not grow with the number of scales.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

GanType = Literal["vanilla", "lsgan", "hinge"]
DiscOutput = list[list[Tensor]]


def patch_logits(outputs: DiscOutput) -> list[Tensor]:
    """The final patch logits of every scale."""
    if not outputs or any(not scale for scale in outputs):
        raise ValueError("discriminator output must be a non-empty list of non-empty per-scale lists")
    return [scale[-1] for scale in outputs]


def _target_loss(logits: Tensor, real: bool, kind: GanType) -> Tensor:
    """Loss that pushes `logits` towards 'real' or 'fake' under the vanilla or LSGAN objective."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    if kind == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, target)
    return F.mse_loss(logits, target)


def generator_adversarial_loss(fake: DiscOutput, kind: GanType) -> Tensor:
    """The generator wants D(fake) to look real; hinge uses -mean(D(fake)) (Lim & Ye, SAGAN)."""
    losses = []
    for logits in patch_logits(fake):
        losses.append(-logits.mean() if kind == "hinge" else _target_loss(logits, True, kind))
    return torch.stack(losses).mean()


def discriminator_losses(real: DiscOutput, fake: DiscOutput, kind: GanType) -> tuple[Tensor, Tensor]:
    """(loss on real, loss on fake), each averaged over scales; hinge uses relu(1 -/+ logits)."""
    real_losses, fake_losses = [], []
    for real_logits, fake_logits in zip(patch_logits(real), patch_logits(fake), strict=True):
        if kind == "hinge":
            real_losses.append(F.relu(1.0 - real_logits).mean())
            fake_losses.append(F.relu(1.0 + fake_logits).mean())
        else:
            real_losses.append(_target_loss(real_logits, True, kind))
            fake_losses.append(_target_loss(fake_logits, False, kind))
    return torch.stack(real_losses).mean(), torch.stack(fake_losses).mean()
