"""The `data:` config section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from utils.config import param, section


@dataclass
class ValConfig:
    """How the validation split is carved out of the training data."""

    fraction: float = param(0.1, "hold-out fraction of the training images used for validation (0 = no validation)", ge=0.0, lt=1.0)


@dataclass
class DataConfig:
    format: Literal["dacon", "photos"] = param("dacon", "dacon = train.csv/test.csv layout of the competition; photos = any folder of colour photos, damaged on the fly")
    root: str = param("", "the dataset folder (for dacon: the folder holding train.csv)")
    crop_size: int = param(256, "training crop size in pixels (square)", ge=8)
    num_workers: int = param(2, "DataLoader worker processes (0 = load in the main process)", ge=0)
    val: ValConfig = section(ValConfig, "validation split")
