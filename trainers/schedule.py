"""Learning-rate schedules, stepped once per epoch.

The lambdas read `train.epochs` from the live config at every step rather than capturing it, and
LambdaLR does not store plain functions in its state_dict, so raising `train.epochs` on resume
stretches the schedule instead of replaying the old one.
"""

from __future__ import annotations

import math

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


def build_scheduler(optimizer: torch.optim.Optimizer, train: TrainConfig) -> LRScheduler | ReduceLROnPlateau:
    if train.scheduler.type != "plateau":
        return LambdaLR(optimizer, lambda epoch: lr_factor(epoch, train))
    return ReduceLROnPlateau(optimizer, mode="max", factor=train.scheduler.plateau_factor,
                             patience=train.scheduler.plateau_patience)


def step_scheduler(scheduler: LRScheduler | ReduceLROnPlateau, score: float | None) -> None:
    """Advance after an epoch; the plateau schedule needs the validation score (skipped without one)."""
    if isinstance(scheduler, ReduceLROnPlateau):
        if score is not None:
            scheduler.step(score)
        return
    scheduler.step()
