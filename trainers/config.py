"""The whole experiment config: every section, and loading it from YAML plus overrides."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from data.config import DataConfig
from losses.config import LossConfig
from models.config import ModelConfig
from utils import config as cfgio
from utils.config import param, section
from utils.errors import ConfigError


@dataclass
class ExperimentConfig:
    name: str = param("default", "run name: outputs go to <output_dir>/<name>/")
    output_dir: str = param("checkpoints", "folder that holds one sub-folder per run")
    seed: int = param(0, "seed of python, numpy and torch; the same seed reproduces a run", ge=0)

    def check(self) -> None:
        if not self.name or "/" in self.name or self.name in (".", ".."):
            raise ConfigError("name", f"got {self.name!r}, expected a non-empty folder name without '/'")

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name


@dataclass
class OptimConfig:
    lr_g: float = param(2e-4, "Adam learning rate of the generator (and the mask net)", gt=0.0)
    lr_d: float = param(2e-4, "Adam learning rate of the discriminator", gt=0.0)
    betas: tuple[float, float] = param((0.5, 0.999), "Adam betas (pix2pix: 0.5, 0.999)", ge=0.0, lt=1.0)
    weight_decay: float = param(0.0, "decoupled weight decay (AdamW); 0 = plain Adam", ge=0.0)


@dataclass
class SchedulerConfig:
    type: Literal["constant", "linear", "cosine", "plateau", "cosine_time"] = param(
        "linear",
        "learning-rate schedule: per epoch, linear = pix2pix (constant, then linear decay to 0 from "
        "decay_start), cosine = cosine decay to min_lr_ratio, plateau = ReduceLROnPlateau on val/score; "
        "per step, cosine_time = cosine decay to min_lr_ratio over train.max_minutes of training time "
        "(validation not counted; the time is kept in last.pt, so a resumed run continues the curve)",
    )
    warmup_epochs: int = param(0, "epochs of linear warm-up from lr/10 before the schedule (not cosine_time)", ge=0)
    warmup_fraction: float = param(0.0, "cosine_time: fraction of train.max_minutes of linear warm-up from lr/10", ge=0.0, lt=1.0)
    decay_start: float = param(0.5, "linear: fraction of train.epochs after which the decay starts", ge=0.0, le=1.0)
    min_lr_ratio: float = param(0.0, "cosine, cosine_time: final lr as a fraction of the initial lr", ge=0.0, le=1.0)
    plateau_factor: float = param(0.5, "plateau: lr multiplier when the score stalls", gt=0.0, lt=1.0)
    plateau_patience: int = param(3, "plateau: epochs without improvement before lowering the lr", ge=0)


@dataclass
class EmaConfig:
    enabled: bool = param(True, "keep an exponential moving average of the generator for validation, test and best.pt")
    decay: float = param(0.999, "EMA decay per optimisation step", gt=0.0, lt=1.0)


@dataclass
class CheckpointConfig:
    every_steps: int = param(0, "also write last.pt every N steps inside an epoch (0 = only at epoch end)", ge=0)
    keep_last: int = param(2, "keep this many epoch_NNN.pt files beside last.pt (0 = none)", ge=0)


@dataclass
class ValidationConfig:
    every_epochs: int = param(1, "validate every N epochs and after the final one (0 = never; best.pt then follows the last epoch)", ge=0)
    max_images: int = param(0, "score at most this many validation images (0 = all)", ge=0)
    num_visuals: int = param(4, "validation samples in the TensorBoard image grid", ge=0)
    batch_size: int = param(4, "images per validation forward pass", ge=1)
    select_window: int = param(
        1, "best.pt: compare means of the last N whole-epoch val/score values (1 = each score alone); until N exist, "
        "best.pt follows the latest validated weights; N > 1 averages a small split's epoch-to-epoch noise", ge=1)
    select_tolerance: float = param(
        1.0, "best.pt moves to the latest weights unless the best window mean beats the latest one by more than this "
        "many standard errors of the latest val/score (val/score_sem, over the validation images); 0 = strictly the "
        "best window", ge=0.0)


@dataclass
class TestConfig:
    enabled: bool = param(True, "predict the test split after each epoch and zip it (skipped when the data has no test split)")
    every_epochs: int = param(1, "write test predictions every N epochs, and always after the final epoch (also one cut short by train.max_minutes)", ge=1)
    mask_source: Literal["detector", "mask_net", "auto"] = param(
        "auto",
        "where the test split's lost regions come from: detector = the constant-fill detector; mask_net = the learned "
        "mask net (needs model.mask_net.enabled); auto = the detector, and where its confidence is low (no plausible "
        "constant-fill region, or two alike) the mask net picks among its candidates (when enabled)",
    )


@dataclass
class TrainConfig:
    epochs: int = param(200, "number of training epochs (raise it on resume to train longer)", ge=1)
    batch_size: int = param(4, "images per optimisation step (per process under torchrun)", ge=1)
    device: Literal["auto", "cpu", "cuda"] = param("auto", "auto = cuda when present, else cpu")
    amp: Literal["off", "bf16", "fp16"] = param(
        "off", "mixed precision: bf16 (CPU or GPU; where the device has no native bf16, e.g. a CPU without AVX512, it "
        "would be emulated and several times slower, so training runs in fp32 with a warning; CHROMAFILL_CPU_BF16=1 "
        "forces it) or fp16 with a GradScaler (GPU)")
    channels_last: bool = param(True, "use the channels_last memory format (faster convolutions on CPU and GPU)")
    depthwise_fp32: bool = param(
        True, "with amp bf16 on a CPU, run depthwise convolutions (EfficientNet encoders) in fp32: oneDNN's bf16 depthwise "
        "backward is ~3x slower than fp32 (benchmarks/bench_depthwise.py); no effect elsewhere")
    deterministic: bool = param(False, "deterministic kernels, for exactly reproducible runs (slower)")
    d_steps_per_g: int = param(1, "discriminator updates per generator update", ge=1)
    grad_clip: float = param(0.0, "clip each network's gradient norm to this value (0 = off)", ge=0.0)
    max_minutes: float = param(
        0.0, "stop cleanly after this many minutes of training in all, counted across resumes (raise it on resume to "
        "train longer); validation and test predictions are not counted (0 = no limit)", ge=0.0)
    max_nonfinite_steps: int = param(20, "stop with a checkpoint after this many non-finite losses in a row", ge=1)
    mask_net_weight: float = param(1.0, "weight of the mask net's loss, BCE + soft Dice on the true masks (when model.mask_net is enabled)", ge=0.0)
    sync_batchnorm: bool = param(False, "under torchrun, convert BatchNorm layers to SyncBatchNorm")
    log_every_steps: int = param(10, "write training scalars to TensorBoard every N steps", ge=1)
    distributed_timeout_minutes: float = param(
        60.0, "under torchrun, how long a rank waits in a collective before failing: rank 0 alone validates, predicts "
        "the test split and saves while the others wait, so it must cover that work (torch defaults: 10 minutes on NCCL, 30 on gloo)", gt=0.0)
    optim: OptimConfig = section(OptimConfig)
    scheduler: SchedulerConfig = section(SchedulerConfig)
    ema: EmaConfig = section(EmaConfig)
    checkpoint: CheckpointConfig = section(CheckpointConfig)
    validation: ValidationConfig = section(ValidationConfig)
    test: TestConfig = section(TestConfig)

    def check(self) -> None:
        sched = self.scheduler
        if sched.type in ("plateau", "cosine_time") and sched.warmup_epochs:
            hint = "; cosine_time warms up with scheduler.warmup_fraction" if sched.type == "cosine_time" else ""
            raise ConfigError("scheduler.warmup_epochs", f"got {sched.warmup_epochs}, expected 0 with scheduler.type {sched.type!r}{hint}")
        if sched.type != "cosine_time" and sched.warmup_fraction:
            raise ConfigError("scheduler.warmup_fraction", f"got {sched.warmup_fraction}, expected 0 unless scheduler.type is 'cosine_time' (type is {sched.type!r}; epoch schedules warm up with scheduler.warmup_epochs)")
        if sched.type == "cosine_time" and not self.max_minutes:
            raise ConfigError("max_minutes", "got 0 (no time budget), expected a number of minutes > 0 with scheduler.type "
                              "'cosine_time': the schedule follows the fraction of train.max_minutes trained")


@dataclass
class Config:
    experiment: ExperimentConfig = section(ExperimentConfig)
    data: DataConfig = section(DataConfig)
    model: ModelConfig = section(ModelConfig)
    loss: LossConfig = section(LossConfig)
    train: TrainConfig = section(TrainConfig)

    def check(self) -> None:
        if self.train.test.mask_source == "mask_net" and not self.model.mask_net.enabled:
            raise ConfigError("train.test.mask_source", "got 'mask_net', expected 'detector' or 'auto' unless model.mask_net.enabled is true")
        if self.loss.chroma_ce.weight > 0 and self.model.generator.head != "chroma_bins":
            raise ConfigError("loss.chroma_ce.weight", f"got {self.loss.chroma_ce.weight}, expected 0 unless model.generator.head is chroma_bins (head is {self.model.generator.head!r})")


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Load and validate an experiment config; raises ChromaFillError naming the key at fault."""
    return cfgio.load(Config, path, overrides)


def config_from_dict(tree: dict) -> Config:
    """Validate a plain tree (e.g. the config stored in a checkpoint)."""
    return cfgio.from_dict(Config, tree)
