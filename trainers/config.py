"""The whole experiment config: every section, and loading it from YAML plus overrides."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from data.config import DataConfig
from losses.config import LossConfig
from models.config import ModelConfig
from utils import config as cfgio
from utils.config import param, section


@dataclass
class ExperimentConfig:
    name: str = param("default", "run name: outputs go to <output_dir>/<name>/")
    output_dir: str = param("checkpoints", "folder that holds one sub-folder per run")
    seed: int = param(0, "seed of python, numpy and torch; the same seed reproduces a run", ge=0)

    def check(self) -> None:
        if not self.name or "/" in self.name or self.name in (".", ".."):
            raise cfgio.ConfigError("name", f"got {self.name!r}, expected a non-empty folder name without '/'")

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name


@dataclass
class TrainConfig:
    epochs: int = param(200, "number of training epochs (raise it on resume to train longer)", ge=1)
    batch_size: int = param(4, "images per optimisation step", ge=1)


@dataclass
class Config:
    experiment: ExperimentConfig = section(ExperimentConfig)
    data: DataConfig = section(DataConfig)
    model: ModelConfig = section(ModelConfig)
    loss: LossConfig = section(LossConfig)
    train: TrainConfig = section(TrainConfig)


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Load and validate an experiment config; raises ChromaFillError naming the key at fault."""
    return cfgio.load(Config, path, overrides)
