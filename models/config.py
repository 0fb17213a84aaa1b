"""The `model:` config section."""

from __future__ import annotations

from dataclasses import dataclass

from utils.config import param, section


@dataclass
class GeneratorConfig:
    type: str = param("unet", "generator class, by registry name")
    base_channels: int = param(64, "channels of the first encoder level", ge=1)
    depth: int = param(8, "encoder levels; inputs are padded to a multiple of 2**depth", ge=1)


@dataclass
class DiscriminatorConfig:
    type: str = param("patchgan", "discriminator class, by registry name")
    base_channels: int = param(64, "channels of the first layer", ge=1)
    n_layers: int = param(3, "strided layers (3 = 70x70 receptive field)", ge=1)


@dataclass
class ModelConfig:
    generator: GeneratorConfig = section(GeneratorConfig)
    discriminator: DiscriminatorConfig = section(DiscriminatorConfig)
