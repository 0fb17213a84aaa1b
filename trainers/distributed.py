"""torchrun support: process-group set-up, rank queries, and reductions used for logging."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Sequence

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str, timeout_minutes: float) -> DistInfo:
    """Join the process group torchrun describes in the environment; a no-op for a plain run.

    `timeout_minutes` (train.distributed_timeout_minutes) bounds every collective: rank 0 alone
    validates, predicts the test split and saves while the other ranks wait in a barrier, which on
    a large test split outlasts NCCL's 10-minute default.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo", timeout=timedelta(minutes=timeout_minutes))
    return info


def shutdown_distributed(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


@dataclass(frozen=True)
class StepVote:
    """What every rank agreed on in a training step's one collective."""

    finite: bool = True  # every rank's losses were finite
    interrupted: bool = False  # a signal arrived on some rank
    out_of_time: bool = False  # rank 0's time budget is spent
    train_seconds: float = 0.0  # rank 0's training seconds when it voted (the clock behind the budget and cosine_time)


def step_vote(finite: bool, signal_requested: bool, main_out_of_time: bool, info: DistInfo,
              device: torch.device, main_train_seconds: float = 0.0) -> StepVote:
    """The one per-step collective: whether every rank's losses are finite (asked before the
    generator's backward pass: a rank that skipped it while the others ran it would leave them
    waiting for its gradient buckets forever), packed with the stop decisions of `stop_decisions`
    and rank 0's training seconds (float64, so every rank's time-following lr is bit-identical).
    """
    if not info.enabled:
        return StepVote(finite, signal_requested, main_out_of_time, main_train_seconds)
    main = info.is_main
    value = torch.tensor([0.0 if finite else 1.0, 1.0 if signal_requested else 0.0,
                          1.0 if (main and main_out_of_time) else 0.0, main_train_seconds if main else 0.0],
                         dtype=torch.float64, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)  # the seconds: rank 0's value against the others' 0
    not_finite, signal, out_of_time, seconds = value.tolist()
    return StepVote(not_finite == 0, signal > 0, out_of_time > 0, seconds)


def stop_decisions(signal_requested: bool, main_out_of_time: bool, main_train_seconds: float, info: DistInfo,
                   device: torch.device) -> tuple[bool, bool, float]:
    """(stop for a signal, stop for the time budget, rank 0's training seconds), the same on every
    rank, in one collective.

    A signal on any rank stops all of them; the time budget is rank 0's clock alone, since the
    ranks' clocks read slightly differently and one rank stopping early would hang the rest. Every
    rank's time-following learning rate uses rank 0's seconds too (float64, so bit-identical):
    ranks whose learning rates differed by a rounding would train apart.
    """
    if not info.enabled:
        return signal_requested, main_out_of_time, main_train_seconds
    main = info.is_main
    value = torch.tensor([1.0 if signal_requested else 0.0, 1.0 if (main and main_out_of_time) else 0.0,
                          main_train_seconds if main else 0.0], dtype=torch.float64, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)  # the seconds: rank 0's value against the others' 0
    return bool(value[0].item() > 0), bool(value[1].item() > 0), float(value[2].item())


def broadcast_score(score: float | None, info: DistInfo, device: torch.device) -> float | None:
    """Rank 0's validation score on every rank (None stays None), e.g. for the plateau schedule."""
    if not info.enabled:
        return score
    value = torch.tensor([math.nan if score is None else float(score)], dtype=torch.float64, device=device)
    dist.broadcast(value, src=0)
    shared = float(value.item())
    return None if math.isnan(shared) else shared


def mean_scalars(values: dict[str, float], names: Sequence[str], info: DistInfo,
                 device: torch.device) -> dict[str, float]:
    """The mean over ranks of each scalar in the fixed list `names`, in ONE collective call.

    Every rank sends the same vector layout whatever it measured (a missing value counts as
    absent, not as zero), so the call matches across ranks; a name no rank measured is left out.
    """
    present = [name in values and math.isfinite(values[name]) for name in names]
    if not info.enabled:
        return {name: float(values[name]) for name, ok in zip(names, present) if ok}
    packed = torch.tensor([float(values[n]) if ok else 0.0 for n, ok in zip(names, present)]
                          + [1.0 if ok else 0.0 for ok in present], dtype=torch.float64, device=device)
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    sums, counts = packed[: len(names)].tolist(), packed[len(names):].tolist()
    return {name: s / c for name, s, c in zip(names, sums, counts) if c > 0}
