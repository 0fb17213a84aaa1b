"""The training loop: outputs, exact resume, signals, TensorBoard, DDP, clear failures."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import cv2
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.dacon_fixture import make_dacon_root
from trainers.checkpoint import load_checkpoint
from trainers.config import Config, load_config
from trainers.loop import run_training
from utils.errors import ChromaFillError

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "smoke.yaml"


@pytest.fixture(scope="module")
def dacon_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dacon_root(tmp_path_factory.mktemp("dacon"))


def smoke(root: Path, out: Path, *overrides: str) -> Config:
    return load_config(SMOKE, [f"data.root={root}", f"experiment.output_dir={out}", *overrides])


def generator_state(run_dir: Path, name: str = "last.pt") -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / name)["trainer"]["generator"]


@pytest.fixture(scope="module")
def finished_run(dacon_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    config = smoke(dacon_root, out, "train.epochs=2", "train.log_every_steps=1")
    assert run_training(config) == 0
    return config.experiment.run_dir


def test_run_folder_has_every_output(finished_run: Path) -> None:
    for name in ("config.yaml", "last.pt", "best.pt", "epoch_002.pt"):
        assert (finished_run / name).is_file(), name
    assert list((finished_run / "tensorboard").glob("events.out.tfevents.*"))
    assert load_config(finished_run / "config.yaml").train.epochs == 2
    state = load_checkpoint(finished_run / "last.pt")
    assert (state["epoch"], state["step_in_epoch"]) == (2, 0)
    assert state["global_step"] > 0


def test_submission_zip_is_flat_rgb_same_size(finished_run: Path, dacon_root: Path) -> None:
    for epoch in (1, 2):
        archive = finished_run / "submissions" / f"epoch_{epoch:03d}.zip"
        with zipfile.ZipFile(archive) as zf:
            names = sorted(zf.namelist())
            assert names == ["TEST_000.png", "TEST_001.png"]
            for name in names:
                data = zf.read(name)
                image = cv2.imdecode(__import__("numpy").frombuffer(data, "uint8"), cv2.IMREAD_UNCHANGED)
                source = cv2.imread(str(dacon_root / "test_input" / name), cv2.IMREAD_UNCHANGED)
                assert image.ndim == 3 and image.shape[2] == 3
                assert image.shape[:2] == source.shape[:2]


def test_tensorboard_tags_read_back(finished_run: Path) -> None:
    events = EventAccumulator(str(finished_run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    expected = {"loss/g_total", "loss/g_pixel", "loss/d_total", "loss/d_real", "loss/d_fake", "lr/g", "lr/d",
                "d/real_mean", "d/fake_mean", "grad_norm/g", "grad_norm/d", "throughput/img_per_s",
                "val/score", "val/ssim_full", "val/ssim_lost", "val/hist"}
    assert expected <= tags, expected - tags
    assert "val/samples" in events.Tags()["images"]
    val_steps = [e.step for e in events.Scalars("val/score")]
    assert len(val_steps) == 2 and val_steps == sorted(set(val_steps))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_tensorboard_server_answers_for_run_scalars(finished_run: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(finished_run), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/data/plugin/scalars/tags"
        body = None
        for _ in range(120):
            try:
                body = json.loads(urllib.request.urlopen(url, timeout=2).read())
                if body:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert body, "tensorboard did not answer"
        tags = {tag for run in body.values() for tag in run}
        assert {"val/score", "loss/g_total"} <= tags
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_two_epochs_equal_one_plus_resume_plus_one_bit_exact(dacon_root: Path, tmp_path: Path) -> None:
    # A constant schedule, so that a run configured for 1 epoch follows the same lr as the first
    # epoch of a 2-epoch run (the mid-epoch SIGTERM test covers resume under one unchanged config).
    common = ("train.deterministic=true", "model.generator.dropout=0.5", "train.scheduler.type=constant")
    straight = smoke(dacon_root, tmp_path / "a", "train.epochs=2", *common)
    run_training(straight)
    first = smoke(dacon_root, tmp_path / "b", "train.epochs=1", *common)
    run_training(first)
    second = smoke(dacon_root, tmp_path / "b", "train.epochs=2", *common)
    run_training(second, resume="auto")
    a, b = generator_state(straight.experiment.run_dir), generator_state(second.experiment.run_dir)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    full_a = load_checkpoint(straight.experiment.run_dir / "last.pt")
    full_b = load_checkpoint(second.experiment.run_dir / "last.pt")
    assert full_a["global_step"] == full_b["global_step"]
    assert torch.equal(full_a["rng"]["torch"], full_b["rng"]["torch"])


def test_raising_epochs_on_resume_extends_the_schedule(dacon_root: Path, tmp_path: Path) -> None:
    run_training(smoke(dacon_root, tmp_path, "train.epochs=2", "train.scheduler.decay_start=0.0"))
    extended = smoke(dacon_root, tmp_path, "train.epochs=4", "train.scheduler.decay_start=0.0")
    run_training(extended, resume="auto")
    state = load_checkpoint(extended.experiment.run_dir / "last.pt")
    assert state["epoch"] == 4
    # linear decay over 4 epochs from the start: after 4 epochs the lr has reached 0 ...
    assert state["trainer"]["opt_g"]["param_groups"][0]["lr"] == pytest.approx(0.0)
    # ... and after 2 of them it stood at half, not at the end of the old 2-epoch schedule.
    lr2 = load_checkpoint(extended.experiment.run_dir / "epoch_003.pt")["trainer"]["opt_g"]["param_groups"][0]["lr"]
    assert lr2 == pytest.approx(2e-4 * 0.25)


def test_resume_with_changed_model_config_fails_naming_the_key(dacon_root: Path, tmp_path: Path) -> None:
    run_training(smoke(dacon_root, tmp_path))
    changed = smoke(dacon_root, tmp_path, "train.epochs=2", "model.generator.base_channels=4")
    with pytest.raises(ChromaFillError, match=r"'model\.generator\.base_channels' differs"):
        run_training(changed, resume="auto")


def test_non_finite_loss_is_skipped_and_counted(dacon_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from losses.combined import GeneratorLoss

    original = GeneratorLoss.forward
    calls = {"n": 0}

    def sometimes_nan(self, *args, **kwargs):
        total, terms = original(self, *args, **kwargs)
        calls["n"] += 1
        return (total * float("nan"), terms) if calls["n"] == 1 else (total, terms)

    monkeypatch.setattr(GeneratorLoss, "forward", sometimes_nan)
    config = smoke(dacon_root, tmp_path)
    assert run_training(config) == 0
    state = load_checkpoint(config.experiment.run_dir / "last.pt")
    assert state["trainer"]["nonfinite_total"] == 1


def test_too_many_non_finite_losses_stop_with_a_checkpoint(dacon_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from losses.combined import GeneratorLoss

    original = GeneratorLoss.forward
    monkeypatch.setattr(GeneratorLoss, "forward", lambda self, *a, **k: (original(self, *a, **k)[0] * float("inf"), {}))
    config = smoke(dacon_root, tmp_path, "train.max_nonfinite_steps=2", "train.epochs=3")
    with pytest.raises(ChromaFillError, match="2 non-finite losses in a row"):
        run_training(config)
    assert load_checkpoint(config.experiment.run_dir / "last.pt")["trainer"]["nonfinite_total"] == 2


def _train_cmd(root: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(REPO / "train.py"), "--config", str(SMOKE), f"data.root={root}",
            f"experiment.output_dir={out}", *extra]


def test_sigterm_mid_epoch_then_resume_matches_a_straight_run(dacon_root: Path, tmp_path: Path) -> None:
    many = make_dacon_root(tmp_path / "many", n_train=40, n_test=1)
    out = tmp_path / "runs"
    args = ("train.epochs=2", "train.batch_size=1", "train.log_every_steps=1", "train.deterministic=true")
    proc = subprocess.Popen(_train_cmd(many, out, *args), cwd=REPO, stderr=subprocess.PIPE, text=True)
    events = out / "smoke" / "tensorboard"
    deadline = time.monotonic() + 120
    while not list(events.glob("events.*")) or os.path.getsize(next(events.glob("events.*"))) < 2000:
        assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert "Resume with: python train.py" in err
    state = load_checkpoint(out / "smoke" / "last.pt")
    assert state["epoch"] == 0 and 0 < state["step_in_epoch"] < 36
    done = subprocess.run(_train_cmd(many, out, *args, ) + ["--resume", "auto"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    final = load_checkpoint(out / "smoke" / "last.pt")
    assert (final["epoch"], final["global_step"]) == (2, 2 * 36)
    straight_out = tmp_path / "straight"
    done = subprocess.run(_train_cmd(many, straight_out, *args), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    straight = load_checkpoint(straight_out / "smoke" / "last.pt")["trainer"]["generator"]
    for key, value in straight.items():
        assert torch.equal(value, final["trainer"]["generator"][key]), key


def test_gloo_ddp_two_processes(dacon_root: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(REPO / "train.py"), "--config", str(SMOKE), f"data.root={dacon_root}", f"experiment.output_dir={tmp_path}",
           "train.device=cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    state = load_checkpoint(tmp_path / "smoke" / "last.pt")
    # 5 training images (one held out), batch 2, 2 ranks: ceil(5/2)=3 per rank -> 1 step per epoch.
    assert state["epoch"] == 1 and state["global_step"] == 1
    assert (tmp_path / "smoke" / "submissions" / "epoch_001.zip").is_file()


def test_mask_net_trains_beside_the_generator(dacon_root: Path, tmp_path: Path) -> None:
    config = smoke(dacon_root, tmp_path, "model.mask_net.enabled=true", "model.mask_net.depth=3",
                   "model.mask_net.base_channels=4", "train.log_every_steps=1", "train.epochs=2")
    run_training(config)
    state = load_checkpoint(config.experiment.run_dir / "last.pt")
    before = load_checkpoint(config.experiment.run_dir / "epoch_001.pt")["trainer"]["mask_net"]
    after = state["trainer"]["mask_net"]
    assert any(not torch.equal(before[k], after[k]) for k in after if after[k].is_floating_point())
    events = EventAccumulator(str(config.experiment.run_dir / "tensorboard"))
    events.Reload()
    assert "loss/g_mask_net" in events.Tags()["scalars"]


def test_checkpoints_record_the_code_that_trained_them(dacon_root: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """last.pt and best.pt name the commit of the training code; a resume on other code appends it
    (the bundled model's provenance reads them)."""
    import trainers.loop

    monkeypatch.setattr(trainers.loop, "git_commit", lambda: "aaaa")
    config = smoke(dacon_root, tmp_path, "train.epochs=1")
    run_training(config)
    run_dir = config.experiment.run_dir
    assert load_checkpoint(run_dir / "last.pt")["code_commits"] == ["aaaa"]
    assert load_checkpoint(run_dir / "best.pt")["code_commits"] == ["aaaa"]
    monkeypatch.setattr(trainers.loop, "git_commit", lambda: "bbbb+uncommitted changes")
    run_training(smoke(dacon_root, tmp_path, "train.epochs=2"), resume="auto")
    assert load_checkpoint(run_dir / "last.pt")["code_commits"] == ["aaaa", "bbbb+uncommitted changes"]
    run_training(smoke(dacon_root, tmp_path, "train.epochs=3"), resume="auto")  # the same code again: no repeat
    assert load_checkpoint(run_dir / "last.pt")["code_commits"] == ["aaaa", "bbbb+uncommitted changes"]
