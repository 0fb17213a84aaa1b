"""torchrun plumbing that one process can check: the process-group timeout, and one collective per step.

The collective count runs the real trainer under DDP in a gloo group of ONE process that the
trainer is told has two ranks: every collective and DDP's gradient hooks run for real, in seconds.
(tests/test_ddp.py runs two processes for what needs two.)
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import trainers.distributed as distributed
import trainers.loop as loop
from data.build import build_datasets, build_loader
from losses.combined import GeneratorLoss
from tests.dacon_fixture import make_dacon_root
from trainers.config import load_config
from trainers.distributed import DistInfo, init_distributed
from trainers.gan_trainer import GANTrainer

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "smoke.yaml"


def test_process_group_gets_the_configured_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    joined: dict = {}
    for key, value in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda **kwargs: joined.update(kwargs))
    info = init_distributed("cuda", 90)
    assert joined == {"backend": "nccl", "timeout": timedelta(minutes=90)}
    assert (info.rank, info.world_size, info.local_rank) == (1, 2, 1)


class _Joined(Exception):
    pass


def test_run_training_joins_with_train_distributed_timeout_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def joining(device_type: str, timeout_minutes: float) -> DistInfo:
        seen.append(timeout_minutes)
        raise _Joined

    monkeypatch.setattr(loop, "init_distributed", joining)
    with pytest.raises(_Joined):
        loop.run_training(load_config(SMOKE, ["train.distributed_timeout_minutes=45", "train.device=cpu"]))
    assert seen == [45]
    assert load_config(SMOKE).train.distributed_timeout_minutes == 60  # sized for rank 0's validation and test split


@pytest.fixture
def group_of_one(tmp_path: Path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


@pytest.fixture
def collectives(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every tensor our code all-reduces (DDP's own gradient buckets go through C++)."""
    calls: list[int] = []
    real = dist.all_reduce

    def counting(tensor, *args, **kwargs):
        calls.append(tensor.numel())
        return real(tensor, *args, **kwargs)

    monkeypatch.setattr(dist, "all_reduce", counting)
    return calls


@pytest.mark.parametrize("nan_loss", [False, True], ids=["finite", "nan-generator-loss"])
def test_a_training_step_makes_one_collective_carrying_the_stop_flags(
        tmp_path: Path, group_of_one, collectives: list[int], monkeypatch: pytest.MonkeyPatch, nan_loss: bool) -> None:
    """The GAN step used to ask all ranks 4 times (D loss, D gradients, G loss, G gradients) and the
    loop once more for its stop decisions; now one vector: [not finite, signal, out of time, rank 0's
    training seconds]."""
    root = make_dacon_root(tmp_path / "data", n_train=4, n_test=1)
    config = load_config(SMOKE, [f"data.root={root}", "train.device=cpu"])
    trainer = GANTrainer(config, torch.device("cpu"), DistInfo(rank=0, world_size=2))
    assert isinstance(trainer.generator, torch.nn.parallel.DistributedDataParallel) and trainer.discriminator is not None
    if nan_loss:
        original = GeneratorLoss.forward
        monkeypatch.setattr(GeneratorLoss, "forward", lambda self, *a, **k: (original(self, *a, **k)[0] * float("nan"), {}))
    batch = next(iter(build_loader(build_datasets(config.data, 0).train, 2, shuffle=False, num_workers=0, seed=0, drop_last=True)))
    collectives.clear()
    result = trainer.train_step(batch, lambda: (False, True, 12.5))
    assert collectives == [4]
    assert result.vote.out_of_time and not result.vote.interrupted and result.vote.train_seconds == 12.5
    assert result.finite is (not nan_loss) and trainer.nonfinite_total == int(nan_loss)
