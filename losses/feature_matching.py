"""pix2pixHD feature matching: the generator matches the discriminator's intermediate features.

It stabilises GAN training by giving the generator a dense target (the statistics of real
images at every discriminator layer) instead of only the final real/fake verdict.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from losses.adversarial import DiscOutput


def feature_matching_loss(fake: DiscOutput, real: DiscOutput) -> Tensor:
    """L1 between fake and (detached) real features, every layer but the logits.

    Averaged over the layers of a scale, then over scales, so its size does not depend on the
    discriminator's depth or number of scales.
    """
    per_scale = []
    for fake_feats, real_feats in zip(fake, real, strict=True):
        if len(fake_feats) != len(real_feats):
            raise ValueError("real and fake discriminator outputs have different numbers of layers")
        pairs = list(zip(fake_feats[:-1], real_feats[:-1]))
        if not pairs:
            raise ValueError("feature matching needs intermediate discriminator features besides the logits")
        per_scale.append(torch.stack([F.l1_loss(f, r.detach()) for f, r in pairs]).mean())
    return torch.stack(per_scale).mean()
