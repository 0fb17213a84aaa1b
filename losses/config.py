"""The `loss:` config section: one sub-section per term, each with a `weight` (0 = not computed)."""

from __future__ import annotations

from dataclasses import dataclass

from utils.config import param, section


@dataclass
class PixelLossConfig:
    weight: float = param(100.0, "weight of the pixel loss (0 = off)", ge=0.0)


@dataclass
class LossConfig:
    pixel: PixelLossConfig = section(PixelLossConfig)
