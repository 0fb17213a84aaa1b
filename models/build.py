"""Build the networks from the `model:` config: registry lookup, then weight initialisation."""

from __future__ import annotations

from torch import nn

from models import registry
from models.config import ModelConfig
from models.init import init_weights


def build_generator(cfg: ModelConfig) -> nn.Module:
    """The generator `G(gray, mask) -> RGB` that `model.generator.type` names, initialised."""
    net = registry.create("generator", cfg.generator, "model.generator")
    own_init = getattr(net, "init_weights", None)
    if callable(own_init):  # a pretrained network initialises only what its weights do not cover
        own_init(cfg.init.type, cfg.init.gain)
        return net
    return init_weights(net, cfg.init.type, cfg.init.gain)


def build_discriminator(cfg: ModelConfig) -> nn.Module:
    """The discriminator `D(gray, rgb, mask) -> [[features..., logits] per scale]`, initialised."""
    net = registry.create("discriminator", cfg.discriminator, "model.discriminator")
    return init_weights(net, cfg.init.type, cfg.init.gain)


def build_mask_net(cfg: ModelConfig) -> nn.Module | None:
    """The learned hole detector `M(raw_gray) -> logits`, or None when `model.mask_net.enabled` is false."""
    if not cfg.mask_net.enabled:
        return None
    net = registry.create("mask_net", cfg.mask_net, "model.mask_net")
    return init_weights(net, cfg.init.type, cfg.init.gain)
