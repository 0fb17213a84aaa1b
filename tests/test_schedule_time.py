"""The cosine_time schedule and the training clock behind train.max_minutes.

The runs use a fake time source that advances by exactly one second per training step (and by a
lot during validation, which must not count), so the training time after step k is k seconds
and the learning rate of every step has a closed form.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import trainers.loop as loop
from tests.dacon_fixture import make_dacon_root
from trainers.checkpoint import load_checkpoint
from trainers.config import Config, TrainConfig, load_config
from trainers.gan_trainer import GANTrainer
from trainers.loop import run_training
from trainers.schedule import time_lr_factor
from utils.errors import ChromaFillError

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "smoke.yaml"
LR = 2e-4  # smoke.yaml's lr_g and lr_d (the defaults)
BUDGET_S = 7.5  # train.max_minutes=0.125: 7.5 one-second steps, so the budget ends after step 8
COSINE = ("train.scheduler.type=cosine_time", "train.max_minutes=0.125", "train.scheduler.min_lr_ratio=0.1")


class FakeTime:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """One second per training step; validation takes 1000 s, which the budget must not see."""
    time = FakeTime()
    real_step, real_validate = GANTrainer.train_step, loop.validate

    def step(self, batch, *args):
        time.t += 1.0  # before the step: the clock is read inside it, for the step's vote
        return real_step(self, batch, *args)

    def validate(*args, **kwargs):
        time.t += 1000.0
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(GANTrainer, "train_step", step)
    monkeypatch.setattr(loop, "validate", validate)
    return time


@pytest.fixture(scope="module")
def dacon_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 14 pairs, 1 held out: 13 steps per epoch at batch size 1.
    return make_dacon_root(tmp_path_factory.mktemp("dacon"), n_train=14, n_test=1)


def smoke(root: Path, out: Path, *overrides: str) -> Config:
    return load_config(SMOKE, [f"data.root={root}", f"experiment.output_dir={out}", "train.batch_size=1",
                               "train.validation.max_images=1", "train.test.enabled=false", "train.log_every_steps=1",
                               "train.epochs=5", *overrides])


def logged_lrs(run_dir: Path, tag: str = "lr/g") -> dict[int, float]:
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return {e.step: e.value for e in events.Scalars(tag)}


def closed_form(seconds: float, warmup: float = 0.0, floor: float = 0.1) -> float:
    """The cosine_time multiplier written out: linear warm-up from 1/10, then a half cosine to `floor`."""
    fraction = seconds / BUDGET_S
    if fraction < warmup:
        return 0.1 + 0.9 * fraction / warmup
    t = min((fraction - warmup) / (1 - warmup), 1.0)
    return floor + (1 - floor) * (1 + math.cos(math.pi * t)) / 2


def test_time_factor_matches_the_closed_form() -> None:
    train = TrainConfig(max_minutes=1.0)
    train.scheduler.type, train.scheduler.min_lr_ratio, train.scheduler.warmup_fraction = "cosine_time", 0.05, 0.1
    assert time_lr_factor(0.0, train) == pytest.approx(0.1)
    assert time_lr_factor(0.05, train) == pytest.approx(0.55)  # halfway up the warm-up
    assert time_lr_factor(0.1, train) == pytest.approx(1.0)  # the warm-up ends at the top of the cosine
    assert time_lr_factor(0.55, train) == pytest.approx(0.05 + 0.95 * 0.5)  # halfway down the cosine
    assert time_lr_factor(1.0, train) == pytest.approx(0.05)
    assert time_lr_factor(1.7, train) == pytest.approx(0.05)  # past the budget: the floor


@pytest.mark.parametrize("warmup", [0.0, 0.2])
def test_each_step_uses_the_lr_of_the_training_time_before_it(
        dacon_root: Path, tmp_path: Path, fake_time: FakeTime, warmup: float) -> None:
    """Step k runs at lr(k-1 seconds); the budget ends after step 8 (8 s >= 7.5 s), inside epoch 1,
    and the checkpoint holds the floor for the next step and the 8 training seconds."""
    config = smoke(dacon_root, tmp_path, *COSINE, f"train.scheduler.warmup_fraction={warmup}")
    assert run_training(config, now=fake_time) == 0
    for tag in ("lr/g", "lr/d"):
        lrs = logged_lrs(config.experiment.run_dir, tag)
        assert sorted(lrs) == list(range(1, 9))
        for step, lr in lrs.items():
            assert lr == pytest.approx(LR * closed_form(step - 1, warmup), rel=1e-6), (tag, step)
    state = load_checkpoint(config.experiment.run_dir / "last.pt")
    assert (state["global_step"], state["train_seconds"]) == (8, 8.0)
    assert state["trainer"]["opt_g"]["param_groups"][0]["lr"] == pytest.approx(LR * 0.1)


def test_resumes_continue_the_same_curve_and_validation_time_is_not_counted(
        dacon_root: Path, tmp_path: Path, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A straight run of a 30 s budget against the same run stopped inside epoch 1 (step 5), resumed
    to the end of epoch 1 (train.epochs=1), and resumed again to the budget: the same lr at every
    step, the same training seconds, bit-identical weights. Every epoch validates (1000 fake
    seconds each), and the budget still ends after 30 steps."""
    common = ("train.scheduler.type=cosine_time", "train.max_minutes=0.5", "train.deterministic=true")
    straight = smoke(dacon_root, tmp_path / "straight", *common)
    assert run_training(straight, now=fake_time) == 0
    with monkeypatch.context() as patch:  # a stop inside the epoch, after step 5 (as a budget or a signal would)
        patch.setattr(loop._Run, "_out_of_time", lambda self, seconds: self.pos.global_step >= 5)
        assert run_training(smoke(dacon_root, tmp_path / "cut", *common), now=fake_time) == 0
    assert run_training(smoke(dacon_root, tmp_path / "cut", *common, "train.epochs=1"), resume="auto", now=fake_time) == 0
    resumed = smoke(dacon_root, tmp_path / "cut", *common)
    assert run_training(resumed, resume="auto", now=fake_time) == 0
    a = load_checkpoint(straight.experiment.run_dir / "last.pt")
    b = load_checkpoint(resumed.experiment.run_dir / "last.pt")
    assert (a["global_step"], a["train_seconds"]) == (b["global_step"], b["train_seconds"]) == (30, 30.0)
    assert logged_lrs(straight.experiment.run_dir) == logged_lrs(resumed.experiment.run_dir)
    for key, value in a["trainer"]["generator"].items():
        assert torch.equal(value, b["trainer"]["generator"][key]), key


def test_a_spent_budget_is_not_restarted_by_a_resume(
        dacon_root: Path, tmp_path: Path, fake_time: FakeTime, capsys: pytest.CaptureFixture) -> None:
    config = smoke(dacon_root, tmp_path, *COSINE)
    assert run_training(config, now=fake_time) == 0
    capsys.readouterr()
    assert run_training(config, resume="auto", now=fake_time) == 0
    assert "train.max_minutes=0.125 already spent" in capsys.readouterr().err
    assert load_checkpoint(config.experiment.run_dir / "last.pt")["global_step"] == 8
    longer = smoke(dacon_root, tmp_path, *COSINE, "train.max_minutes=0.25")  # 15 s: 7 more steps
    assert run_training(longer, resume="auto", now=fake_time) == 0
    assert load_checkpoint(config.experiment.run_dir / "last.pt")["global_step"] == 15


def test_a_resume_may_switch_between_time_and_epoch_schedules(dacon_root: Path, tmp_path: Path, fake_time: FakeTime) -> None:
    config = smoke(dacon_root, tmp_path, *COSINE)
    assert run_training(config, now=fake_time) == 0
    constant = smoke(dacon_root, tmp_path, "train.scheduler.type=constant", "train.max_minutes=0.25")
    assert run_training(constant, resume="auto", now=fake_time) == 0  # torch alone: KeyError 'lr_lambdas'
    assert load_checkpoint(config.experiment.run_dir / "last.pt")["global_step"] == 15
    back = smoke(dacon_root, tmp_path, *COSINE, "train.max_minutes=0.375")  # 22.5 s: 8 more steps
    assert run_training(back, resume="auto", now=fake_time) == 0
    state = load_checkpoint(config.experiment.run_dir / "last.pt")
    assert state["global_step"] == 23 and state["trainer"]["opt_g"]["param_groups"][0]["lr"] == pytest.approx(LR * 0.1)


@pytest.mark.parametrize(("overrides", "message"), [
    (["train.scheduler.type=cosine_time"],
     r"train\.max_minutes: got 0 \(no time budget\), expected a number of minutes > 0 with scheduler\.type 'cosine_time'"),
    (["train.scheduler.type=cosine_time", "train.max_minutes=20", "train.scheduler.warmup_epochs=2"],
     r"train\.scheduler\.warmup_epochs: got 2, expected 0 with scheduler\.type 'cosine_time'; .*warmup_fraction"),
    (["train.scheduler.warmup_fraction=0.1"],
     r"train\.scheduler\.warmup_fraction: got 0\.1, expected 0 unless scheduler\.type is 'cosine_time'"),
    (["train.scheduler.type=cosine_time", "train.max_minutes=20", "train.scheduler.warmup_fraction=1.0"],
     r"train\.scheduler\.warmup_fraction"),
])
def test_config_errors_name_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ChromaFillError, match=message):
        load_config(SMOKE, overrides)
