"""model.discriminator.sees_mask: the PatchGAN gets the hole mask as a third input, in training too."""

from __future__ import annotations

import pytest
import torch

from models.build import build_discriminator
from tests.test_models import model_cfg
from tests.test_models_pretrained import batch
from trainers.config import load_config
from trainers.gan_trainer import GANTrainer


def hole(top: int, size: int = 32) -> torch.Tensor:
    mask = torch.zeros(2, 1, 64, 64)
    mask[:, :, top:top + 16, 8:8 + size] = 1
    return mask


def test_mask_changes_the_logits_only_when_seen() -> None:
    gray, rgb = torch.rand(2, 1, 64, 64), torch.rand(2, 3, 64, 64)
    torch.manual_seed(0)
    seeing = build_discriminator(model_cfg(discriminator={"base_channels": 4, "sees_mask": True}))
    blind = build_discriminator(model_cfg(discriminator={"base_channels": 4}))
    assert seeing.scales[0].blocks[0][0].in_channels == 5 and blind.scales[0].blocks[0][0].in_channels == 4
    logits = lambda d, mask: d(gray, rgb, mask)[0][-1]  # noqa: E731
    assert not torch.equal(logits(seeing, hole(4)), logits(seeing, hole(40)))
    assert torch.equal(logits(blind, hole(4)), logits(blind, hole(40)))
    assert torch.equal(logits(blind, hole(4)), blind(gray, rgb)[0][-1])


def test_a_mask_seeing_discriminator_without_the_mask_is_an_error() -> None:
    d = build_discriminator(model_cfg(discriminator={"base_channels": 4, "sees_mask": True}))
    with pytest.raises(ValueError, match="needs the hole mask"):
        d(torch.rand(1, 1, 64, 64), torch.rand(1, 3, 64, 64))


def test_the_training_step_feeds_the_mask_to_the_discriminator() -> None:
    config = load_config("configs/smoke.yaml", ["model.discriminator.sees_mask=true", "model.generator.depth=3"])
    trainer = GANTrainer(config, torch.device("cpu"))
    first = trainer.discriminator.scales[0].blocks[0][0]
    before = first.weight.detach().clone()
    assert trainer.train_step(batch()).finite
    # The weights reading the mask channel (input channel 1) learned from it: D's step saw a mask.
    assert not torch.equal(first.weight[:, 1], before[:, 1])
