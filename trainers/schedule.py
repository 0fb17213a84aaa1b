"""Learning-rate schedules: per epoch (constant, linear, cosine, plateau) or per step, following
the training time (cosine_time).

The lambdas read `train.epochs` from the live config at every step rather than capturing it, and
LambdaLR does not store plain functions in its state_dict, so raising `train.epochs` on resume
stretches the schedule instead of replaying the old one. `TrainingTimeLR` likewise reads
`train.max_minutes` live: raising it on resume stretches the time curve.

Why a schedule on time: the CPU recipes stop on `train.max_minutes`, not on `train.epochs`, and
how many steps fit in the budget depends on the machine and its load; an epoch schedule would be
cut anywhere along its curve. `cosine_time` anneals over the fraction of the budget trained (the
training clock, trainers/clock.py), so it reaches its floor when the budget ends, on any machine.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau

from trainers.config import TrainConfig


def lr_factor(epoch: int, train: TrainConfig) -> float:
    """Multiplier of the base lr for the epoch that starts after `epoch` completed epochs."""
    cfg = train.scheduler
    if epoch < cfg.warmup_epochs:  # never for plateau: TrainConfig.check forbids the combination
        return 0.1 + 0.9 * epoch / cfg.warmup_epochs
    if cfg.type in ("constant", "plateau"):
        return 1.0
    span = max(train.epochs - cfg.warmup_epochs, 1)
    t = (epoch - cfg.warmup_epochs) / span
    if cfg.type == "cosine":
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    # linear (pix2pix): constant until decay_start, then linearly to zero at the last epoch.
    if t <= cfg.decay_start:
        return 1.0
    return max(0.0, 1.0 - (t - cfg.decay_start) / max(1.0 - cfg.decay_start, 1e-8))


def time_lr_factor(fraction: float, train: TrainConfig) -> float:
    """Multiplier of the base lr after `fraction` of `train.max_minutes` of training (cosine_time).

    A linear warm-up from lr/10 over the first `warmup_fraction` (as the epoch warm-up), then a
    half cosine from 1 down to `min_lr_ratio` at fraction 1, and the floor after it.
    """
    cfg = train.scheduler
    if fraction < cfg.warmup_fraction:
        return 0.1 + 0.9 * fraction / cfg.warmup_fraction
    t = min((fraction - cfg.warmup_fraction) / (1.0 - cfg.warmup_fraction), 1.0)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))


class TrainingTimeLR(LRScheduler):
    """The lr as `time_lr_factor` of the fraction of `train.max_minutes` trained, set after every
    step by `follow` (the loop passes the training clock that all ranks agreed on).

    The optimizer's param groups hold the lr for the next step, so a checkpoint written after a
    step resumes with it; the fraction is in the state_dict for the record, the live config is not
    (a checkpoint holds plain data only, and raising max_minutes on resume should stretch the curve).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, train: TrainConfig) -> None:
        self._train = train
        self.fraction = 0.0
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        factor = time_lr_factor(self.fraction, self._train)
        return [base * factor for base in self.base_lrs]

    def follow(self, train_seconds: float) -> None:
        """Set every group's lr for `train_seconds` of training (max_minutes > 0: TrainConfig.check)."""
        self.fraction = train_seconds / (self._train.max_minutes * 60)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "_train")}


def build_scheduler(optimizer: torch.optim.Optimizer, train: TrainConfig) -> LRScheduler | ReduceLROnPlateau:
    if train.scheduler.type == "cosine_time":
        return TrainingTimeLR(optimizer, train)
    if train.scheduler.type != "plateau":
        return LambdaLR(optimizer, lambda epoch: lr_factor(epoch, train))
    return ReduceLROnPlateau(optimizer, mode="max", factor=train.scheduler.plateau_factor,
                             patience=train.scheduler.plateau_patience)


def load_scheduler_state(scheduler: LRScheduler | ReduceLROnPlateau, state: dict[str, Any]) -> None:
    """Restore a scheduler from a checkpoint, unless the checkpoint's came from another kind of
    schedule: a resume may change train.scheduler.type (e.g. from cosine_time to a constant lr to
    fine-tune), and torch would fail on the other kind's state with a bare KeyError. The lr itself
    comes back with the optimizer's state either way."""
    if set(state) >= set(scheduler.state_dict()):
        scheduler.load_state_dict(state)


def step_scheduler(scheduler: LRScheduler | ReduceLROnPlateau, score: float | None) -> None:
    """Advance after an epoch; the plateau schedule needs the validation score (skipped without one).
    The time schedule does not move at epoch ends: it follows the training clock after every step."""
    if isinstance(scheduler, TrainingTimeLR):
        return
    if isinstance(scheduler, ReduceLROnPlateau):
        if score is not None:
            scheduler.step(score)
        return
    scheduler.step()
