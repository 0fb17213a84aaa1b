"""A spectral-normalised discriminator normalises each weight once per phase of a training step.

The D step's two forwards (real, fake) share one normalised weight, and so do the generator
step's (fake, and real when feature matching needs it): power iteration and division run twice a
step, not once per forward.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.parametrizations import _SpectralNorm

from tests.test_models_pretrained import batch
from trainers.config import load_config
from trainers.gan_trainer import GANTrainer


def spectral_layers(trainer: GANTrainer) -> int:
    return sum(isinstance(m, _SpectralNorm) for m in trainer.discriminator.modules())


@pytest.mark.parametrize("feature_matching", [False, True])
def test_two_normalisations_per_layer_per_step(feature_matching: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    overrides = ["model.discriminator.spectral_norm=true", "model.discriminator.norm=none", "model.generator.depth=3",
                 f"loss.feat_match.weight={1.0 if feature_matching else 0.0}"]
    trainer = GANTrainer(load_config("configs/smoke.yaml", overrides), torch.device("cpu"))
    assert trainer.g_loss.needs_real_features == feature_matching
    calls = []
    original = _SpectralNorm.forward
    monkeypatch.setattr(_SpectralNorm, "forward", lambda self, weight: calls.append(self) or original(self, weight))
    result = trainer.train_step(batch())
    assert result.finite
    assert len(calls) == 2 * spectral_layers(trainer) > 0  # uncached: 3 (4 with feature matching) per layer
