"""What a run promises across its epochs: best.pt, TensorBoard after resume, time budgets, fine-tuning.

Each test runs the configuration in which the promise used to break (validation every N epochs,
a resume, a budget that runs out inside an epoch, --load-from best.pt), not the easy default.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import trainers.loop as loop
from data.build import build_datasets
from data.config import DamageConfig
from data.damage import synthesize_damage
from data.size_batches import same_size_batches
from data.synthetic import natural_image
from tests.dacon_fixture import make_dacon_root
from trainers.checkpoint import generator_weights, load_checkpoint
from trainers.config import Config, load_config
from trainers.distributed import DistInfo
from trainers.loop import run_training

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "smoke.yaml"


@pytest.fixture(scope="module")
def dacon_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dacon_root(tmp_path_factory.mktemp("dacon"), n_test=1)


def smoke(root: Path, out: Path, *overrides: str) -> Config:
    return load_config(SMOKE, [f"data.root={root}", f"experiment.output_dir={out}", "train.validation.max_images=1",
                               *overrides])


def test_best_pt_keeps_the_best_validated_epoch_when_validating_every_other_epoch(
        dacon_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Epoch 2 scores 0.5, epoch 4 only 0.4: best.pt must hold epoch 2, not the unscored epoch 3."""
    scripted = iter([0.5, 0.4])
    real_validate = loop.validate

    def scripted_validate(*args, **kwargs):
        scores, grid = real_validate(*args, **kwargs)
        return {**scores, "score": next(scripted)}, grid

    monkeypatch.setattr(loop, "validate", scripted_validate)
    config = smoke(dacon_root, tmp_path, "train.epochs=4", "train.validation.every_epochs=2", "train.test.enabled=false")
    assert run_training(config) == 0
    best = load_checkpoint(config.experiment.run_dir / "best.pt")
    assert best["epoch"] == 2 and best["scores"]["score"] == 0.5
    assert load_checkpoint(config.experiment.run_dir / "last.pt")["best_score"] == 0.5


def test_best_pt_follows_the_latest_epoch_until_the_first_validation(dacon_root: Path, tmp_path: Path) -> None:
    config = smoke(dacon_root, tmp_path, "train.epochs=1", "train.validation.every_epochs=0", "train.test.enabled=false")
    assert run_training(config) == 0
    best = load_checkpoint(config.experiment.run_dir / "best.pt")
    assert best["epoch"] == 1 and best["scores"] == {}


def test_tensorboard_keeps_the_validation_point_before_a_resume(dacon_root: Path, tmp_path: Path) -> None:
    """One epoch, resume, one more: read as TensorBoard reads the whole folder, val/score has two points."""
    args = ("train.test.enabled=false", "train.log_every_steps=1")
    first = smoke(dacon_root, tmp_path, "train.epochs=1", *args)
    assert run_training(first) == 0
    assert run_training(smoke(dacon_root, tmp_path, "train.epochs=2", *args), resume="auto") == 0
    events = EventAccumulator(str(first.experiment.run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    assert len(list((first.experiment.run_dir / "tensorboard").glob("events.*"))) == 2
    val_steps = [e.step for e in events.Scalars("val/score")]
    steps_per_epoch = load_checkpoint(first.experiment.run_dir / "epoch_001.pt")["global_step"]
    assert val_steps == [steps_per_epoch, 2 * steps_per_epoch]
    assert [e.step for e in events.Images("val/samples")] == val_steps
    g_steps = [e.step for e in events.Scalars("loss/g_total")]
    assert g_steps == sorted(set(g_steps)) == list(range(1, 2 * steps_per_epoch + 1))


@pytest.mark.parametrize("extra", [(), ("data.augment.exposure_prob=0.5", "model.discriminator.sees_mask=true",
                                          "data.augment.hole_crop_prob=0.5"),
                                     # the cut run fills the disk cache that the resumed and the straight runs read
                                     ("data.prefill=fsr_flips_ns_soft", "data.augment.hole_crop_prob=1.0")],
                         ids=["plain", "exposure-mask-seeing-d-and-hole-crops", "cached-composite-prefill"])
def test_time_budget_inside_an_epoch_resumes_inside_it_like_a_straight_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: tuple[str, ...]) -> None:
    many = make_dacon_root(tmp_path / "many", n_train=14, n_test=1)
    args = ("train.epochs=1", "train.batch_size=1", "train.deterministic=true", "train.max_minutes=60", "train.validation.every_epochs=0", "train.test.enabled=false",
            "train.validation.max_images=1", *extra)
    cut_at = 3
    with monkeypatch.context() as patch:  # the budget "runs out" after step 3 of the 13-step epoch (14 pairs, 1 held out)
        patch.setattr(loop._Run, "_out_of_time", lambda self, started: self.pos.global_step >= cut_at)
        config = smoke(many, tmp_path / "cut", *args)
        assert run_training(config) == 0
    run_dir = config.experiment.run_dir
    state = load_checkpoint(run_dir / "last.pt")
    assert (state["epoch"], state["step_in_epoch"], state["global_step"]) == (0, cut_at, cut_at)
    assert not list(run_dir.glob("epoch_*.pt"))  # no epoch checkpoint for part of an epoch
    assert run_training(smoke(many, tmp_path / "cut", *args), resume="auto") == 0
    resumed = load_checkpoint(run_dir / "last.pt")
    straight_config = smoke(many, tmp_path / "straight", *args)
    assert run_training(straight_config) == 0
    straight = load_checkpoint(straight_config.experiment.run_dir / "last.pt")
    assert (resumed["epoch"], resumed["global_step"]) == (straight["epoch"], straight["global_step"]) == (1, 13)
    for key, value in straight["trainer"]["generator"].items():
        assert torch.equal(value, resumed["trainer"]["generator"][key]), key


def test_load_from_best_pt_starts_from_the_ema_weights_and_says_so(
        dacon_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = smoke(dacon_root, tmp_path, "train.epochs=1", "train.test.enabled=false", "train.ema.decay=0.5")
    assert run_training(config) == 0
    best = load_checkpoint(config.experiment.run_dir / "best.pt")
    ema, is_ema = generator_weights(best, use_ema=True)
    raw = best["trainer"]["generator"]
    assert is_ema and any(not torch.equal(ema[k], raw[k]) for k in raw if raw[k].is_floating_point())
    fine_tune = smoke(dacon_root, tmp_path, "experiment.name=fine_tune", "train.epochs=1")
    capsys.readouterr()
    run = loop._Run(fine_tune, torch.device("cpu"), DistInfo(), None, str(config.experiment.run_dir / "best.pt"))
    assert "loaded weights (generator (EMA weights), discriminator)" in capsys.readouterr().err
    for key, value in run.trainer.generator.state_dict().items():
        assert torch.equal(value, ema[key]), key
    for key, value in run.trainer.discriminator.state_dict().items():
        assert torch.equal(value, best["trainer"]["discriminator"][key]), key
    run.logger.close()


def _mixed_photo_folder(root: Path) -> Path:
    """CamVid-like 72x96 and BSDS-like 64x97 colour photos in one folder, plus mixed-size test inputs."""
    rng = np.random.default_rng(0)
    for i in range(8):
        size = (72, 96) if i % 2 else (64, 97)
        cv2.imwrite(str(_mkdir(root / "photos") / f"img{i}.png"), natural_image(*size, rng)[:, :, ::-1])
    for i, size in enumerate([(70, 90), (64, 97)]):
        gray, _ = synthesize_damage(natural_image(*size, rng), rng, DamageConfig())
        cv2.imwrite(str(_mkdir(root / "test") / f"test{i}.png"), gray)
    return root


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_photo_folder_of_mixed_sizes_validates_and_predicts_at_each_size(tmp_path: Path) -> None:
    root = _mixed_photo_folder(tmp_path / "data")
    config = load_config(SMOKE, [f"data.root={root / 'photos'}", "data.format=photos", f"data.test_dir={root / 'test'}",
                                 f"experiment.output_dir={tmp_path / 'runs'}", "data.val.fraction=0.5", "data.crop_size=48",
                                 "train.epochs=1", "train.validation.num_visuals=4", "train.validation.batch_size=4"])
    assert config.data.val_size is None
    assert run_training(config) == 0
    run_dir = config.experiment.run_dir
    best = load_checkpoint(run_dir / "best.pt")
    assert set(best["scores"]) == {"score", "score_sem", "ssim_full", "ssim_lost", "hist"}
    samples = cv2.imread(str(run_dir / "samples.png"))
    val = build_datasets(config.data, config.experiment.seed).val
    heights = [val.sample_size(i)[0] for i in range(len(val))]
    assert set(heights) == {64, 72} and samples.shape[0] == sum(heights)  # every validation photo, at its height
    assert samples.shape[1] == 3 * 97
    with zipfile.ZipFile(run_dir / "submissions" / "epoch_001.zip") as archive:
        sizes = {name: cv2.imdecode(np.frombuffer(archive.read(name), np.uint8), cv2.IMREAD_COLOR).shape[:2]
                 for name in archive.namelist()}
    assert sizes == {"test0.png": (70, 90), "test1.png": (64, 97)}


def test_whole_image_batches_group_equal_sizes_in_dataset_order() -> None:
    sizes = [(2, 3), (4, 5), (2, 3), (2, 3), (4, 5)]
    assert same_size_batches(sizes, 2) == [[0, 2], [3], [1, 4]]
    assert same_size_batches(sizes, 1) == [[0], [2], [3], [1], [4]]
