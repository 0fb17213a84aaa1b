"""Faults during training: kill -9, damaged checkpoints, a full disk, NaN under AMP, Ctrl-C.

Each test asserts a promise of the README's Reliability section (cases in docs/reliability.md):
nothing already saved is lost, and every failure is one line naming the file or key, never a
traceback.
"""

from __future__ import annotations

import errno
import os
import pickle
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

import trainers.loop as loop
from tests.dacon_fixture import make_dacon_root
from trainers.checkpoint import CorruptCheckpointError, epoch_checkpoint_name, load_checkpoint, rotate_epoch_checkpoints
from trainers.config import Config, load_config
from trainers.loop import run_training
from utils import atomic
from utils.errors import ChromaFillError
from tests.fault_helpers import assert_one_error_line, run_script

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "smoke.yaml"
# The smallest smoke run: no test predictions (they are covered elsewhere), one validation image.
FAST = ("train.test.enabled=false", "train.validation.max_images=1", "train.log_every_steps=1000")


@pytest.fixture(scope="module")
def dacon_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dacon_root(tmp_path_factory.mktemp("dacon"), n_test=1)


def smoke(root: Path, out: Path, *overrides: str) -> Config:
    return load_config(SMOKE, [f"data.root={root}", f"experiment.output_dir={out}", *FAST, *overrides])


def train_cmd(root: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(REPO / "train.py"), "--config", str(SMOKE), f"data.root={root}",
            f"experiment.output_dir={out}", *FAST, *extra]


def temporaries(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob(".*.tmp"))


# -- kill -9 ---------------------------------------------------------------------------------------

def _checkpoint_temporaries(run_dir: Path) -> set[str]:
    return {p.name for p in run_dir.glob(".*.pt.*.tmp")} if run_dir.is_dir() else set()


def _kill_when(proc: subprocess.Popen, run_dir: Path, writes_to_skip: int, delay: float | None) -> str:
    """SIGKILL `proc` inside its (writes_to_skip + 1)-th checkpoint write, or `delay` s after its first one.

    Timing from the first checkpoint write (not from the start) puts every kill inside training,
    whatever the machine's speed, and bounds the progress of each attempt.
    """
    seen = _checkpoint_temporaries(run_dir)  # stale ones from the previous kill are not this process's writes
    first_write = None
    safety = time.monotonic() + 60
    while proc.poll() is None:
        now = time.monotonic()
        new = _checkpoint_temporaries(run_dir) - seen
        if new:
            seen |= new
            first_write = first_write or now
            if delay is None and len(seen) > writes_to_skip:
                proc.kill()
                return "during a checkpoint write"
        if (delay is not None and first_write is not None and now - first_write >= delay) or now > safety:
            proc.kill()
            return f"{delay:.2f}s after the first write" if delay is not None else "timeout"
        time.sleep(0.0005)
    return "finished before the kill"


def test_kill_9_at_random_moments_never_loses_last_pt(tmp_path: Path) -> None:
    # 12 images, batch 1, last.pt at every step: most moments of a run are near a checkpoint write.
    root = make_dacon_root(tmp_path / "data", n_train=12, n_test=1, size=(64, 64))
    out = tmp_path / "runs"
    run_dir = out / "smoke"
    epochs, steps_per_epoch = 5, 11  # 12 images, 1 held out for validation, batch 1
    args = (f"train.epochs={epochs}", "train.batch_size=1", "train.checkpoint.every_steps=1", "data.val.fraction=0.1")
    rng = random.Random(8)
    outcomes, seen_stale = [], 0
    # 8 kills (each a fresh process start, the slow part): 4 timed by writes, 4 by the clock.
    for attempt in range(8):
        resume = ["--resume", "auto"] if attempt else []
        proc = subprocess.Popen(train_cmd(root, out, *args, *resume), cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if attempt % 2 == 0:
            outcome = _kill_when(proc, run_dir, rng.randrange(3), None)
        else:
            outcome = _kill_when(proc, run_dir, 0, rng.uniform(0.0, 0.15))
        proc.wait(timeout=60)
        outcomes.append(outcome)
        seen_stale += bool(temporaries(run_dir))
        for name in ("last.pt", "best.pt"):
            if (run_dir / name).exists():
                load_checkpoint(run_dir / name)  # never a half-written file
    assert outcomes.count("during a checkpoint write") == 4, outcomes
    assert all(o.endswith("after the first write") for o in outcomes[1::2]), outcomes
    assert seen_stale, "no kill left a temporary file behind; the cleanup below was not exercised"
    done = subprocess.run(train_cmd(root, out, *args, "--resume", "auto"), cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    final = load_checkpoint(run_dir / "last.pt")
    assert (final["epoch"], final["step_in_epoch"], final["global_step"]) == (epochs, 0, epochs * steps_per_epoch)
    assert temporaries(run_dir) == [], "stale temporaries of killed writers were not cleaned up"
    assert load_checkpoint(run_dir / "best.pt")["epoch"] >= 1


def test_stale_temporary_of_a_dead_writer_is_removed_live_one_kept(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".last.pt.{dead.pid}.abcd_123.tmp"
    live = tmp_path / f".last.pt.{os.getpid()}.zz9_abcd.tmp"
    stale.write_bytes(b"half a checkpoint")
    live.write_bytes(b"being written")
    atomic.atomic_write_bytes(tmp_path / "last.pt", b"complete")
    assert not stale.exists() and live.exists()
    assert (tmp_path / "last.pt").read_bytes() == b"complete"


# -- damaged checkpoints ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_epoch_run(dacon_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-epoch run (last.pt, epoch_001.pt, epoch_002.pt, best.pt, config.yaml)."""
    out = tmp_path_factory.mktemp("runs")
    config = smoke(dacon_root, out, "train.epochs=2")
    assert run_training(config) == 0
    return config.experiment.run_dir


def _copy_run(run_dir: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    for path in run_dir.glob("*.*"):
        if path.is_file():
            (dest / path.name).write_bytes(path.read_bytes())
    return dest


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _flip_bytes(path: Path) -> None:
    """Corrupt the middle of a tensor's data, leaving the zip structure intact (bit rot, bad copy)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.file_size // 2
    for i in range(start, start + 64):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _flip_bytes], ids=["truncated", "flipped-bytes"])
def test_damaged_last_pt_resume_auto_uses_the_previous_epoch_with_a_warning(
        two_epoch_run: Path, tmp_path: Path, damage, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    run_dir = _copy_run(two_epoch_run, tmp_path / "smoke")
    damage(run_dir / "last.pt")
    with pytest.raises(ChromaFillError, match="last.pt: ") as info:
        load_checkpoint(run_dir / "last.pt")
    assert "\n" not in str(info.value)
    done = run_script("train", ["--config", str(run_dir / "config.yaml"), "--resume", "auto", "train.epochs=3",
                                f"experiment.output_dir={tmp_path}"], monkeypatch, capsys)
    assert done.returncode == 0, done.stderr
    assert f"warning: {run_dir / 'last.pt'} is damaged; resuming from {run_dir / 'epoch_002.pt'}" in done.stderr
    assert "resumed at epoch 3" in done.stderr
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == 3


def test_damaged_explicit_resume_path_is_named_and_the_previous_offered(
        two_epoch_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    run_dir = _copy_run(two_epoch_run, tmp_path / "smoke")
    _truncate(run_dir / "last.pt")
    done = run_script("train", ["--config", str(run_dir / "config.yaml"), "--resume", str(run_dir / "last.pt"),
                                f"experiment.output_dir={tmp_path}"], monkeypatch, capsys)
    assert_one_error_line(done, f"{run_dir / 'last.pt'}: ", f"--resume {run_dir / 'epoch_002.pt'}")


def test_damaged_last_pt_without_a_previous_checkpoint_is_one_line(
        two_epoch_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    run_dir = _copy_run(two_epoch_run, tmp_path / "smoke")
    for path in run_dir.glob("epoch_*.pt"):
        path.unlink()
    _truncate(run_dir / "last.pt")
    done = run_script("train", ["--config", str(run_dir / "config.yaml"), "--resume", "auto",
                                f"experiment.output_dir={tmp_path}"], monkeypatch, capsys)
    assert_one_error_line(done, f"{run_dir / 'last.pt'}: ", "truncated, corrupt")


@pytest.mark.parametrize("failure, shown", [
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "out of memory while loading it onto"),
    (RuntimeError("Unsupported checkpoint format version 9 (saved by a newer torch)"), "RuntimeError: Unsupported checkpoint format"),
], ids=["out-of-memory", "newer-torch"])
def test_load_failure_that_is_not_damage_stops_as_itself_without_falling_back(
        two_epoch_run: Path, tmp_path: Path, failure: Exception, shown: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Falling back to epoch_001.pt here would silently discard the progress last.pt holds."""
    run_dir = _copy_run(two_epoch_run, tmp_path / "smoke")
    before = (run_dir / "last.pt").read_bytes()
    real_load = torch.load

    def failing_load(path, *args, **kwargs):
        if Path(path).name == "last.pt":
            raise failure
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(torch, "load", failing_load)
    done = run_script("train", ["--config", str(run_dir / "config.yaml"), "--resume", "auto", "train.epochs=3",
                                f"experiment.output_dir={tmp_path}"], monkeypatch, capsys)
    line = assert_one_error_line(done, f"{run_dir / 'last.pt'}: could not load the checkpoint", shown)
    assert "corrupt" not in line and "damaged" not in done.stderr
    assert (run_dir / "last.pt").read_bytes() == before


def _rewrite_pickle(path: Path, stream: bytes) -> None:
    """Replace the pickle stream inside the checkpoint's zip, with valid checksums (a hand-edited file)."""
    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            archive.writestr(name, stream if name.endswith("/data.pkl") else data)


@pytest.mark.parametrize("stream", [b"\x80\x02h\x05.", b"\x80\x02.", b"\x80\x02"],
                         ids=["unknown-memo-KeyError", "empty-stack-IndexError", "EOFError"])
def test_damaged_pickle_stream_behind_valid_checksums_is_damage(two_epoch_run: Path, tmp_path: Path, stream: bytes) -> None:
    path = tmp_path / "last.pt"
    path.write_bytes((two_epoch_run / "last.pt").read_bytes())
    _rewrite_pickle(path, stream)
    with pytest.raises(CorruptCheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_key_error_from_a_bug_surfaces_as_itself_and_nothing_falls_back(
        two_epoch_run: Path, dacon_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyError raised outside torch's unpickler (here: a bug in the loading code) is not damage:
    treating it as such would resume from epoch_001.pt and silently drop last.pt's progress."""
    run_dir = _copy_run(two_epoch_run, tmp_path / "smoke")
    real_load = torch.load

    def buggy_load(path, *args, **kwargs):
        if Path(path).name == "last.pt":
            raise KeyError("opt_g")
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(torch, "load", buggy_load)
    with pytest.raises(KeyError, match="opt_g"):
        load_checkpoint(run_dir / "last.pt")
    with pytest.raises(KeyError, match="opt_g"):
        run_training(smoke(dacon_root, tmp_path, "train.epochs=3"), resume="auto")
    monkeypatch.undo()
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == 2


def test_fallback_checkpoint_is_read_once(two_epoch_run: Path, dacon_root: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = _copy_run(two_epoch_run, tmp_path / "smoke")
    _truncate(run_dir / "last.pt")
    reads: dict[str, int] = {}
    real_load = torch.load

    def counting_load(path, *args, **kwargs):
        reads[Path(path).name] = reads.get(Path(path).name, 0) + 1
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting_load)
    assert run_training(smoke(dacon_root, tmp_path, "train.epochs=3"), resume="auto") == 0
    assert reads["epoch_002.pt"] == 1


@pytest.mark.parametrize("cut", [False, True], ids=["epoch-end", "max-minutes-cut"])
def test_last_pt_is_saved_before_the_test_split_is_predicted(
        dacon_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cut: bool) -> None:
    """A failure (or a kill) while predicting the test split must not lose the epoch just trained."""
    def failing_predict(*args, **kwargs):
        raise RuntimeError("predicting the test split failed")

    monkeypatch.setattr(loop, "predict_split", failing_predict)
    if cut:  # the budget runs out after step 1 of the 2-step epoch
        monkeypatch.setattr(loop._Run, "_out_of_time", lambda self, started: self.pos.global_step >= 1)
    config = smoke(dacon_root, tmp_path, "train.epochs=1", "train.test.enabled=true", "train.max_minutes=60")
    with pytest.raises(RuntimeError, match="predicting the test split failed"):
        run_training(config)
    state = load_checkpoint(config.experiment.run_dir / "last.pt")
    assert (state["epoch"], state["step_in_epoch"]) == ((0, 1) if cut else (1, 0))
    assert (config.experiment.run_dir / "best.pt").is_file()


def test_epoch_checkpoints_rotate_by_epoch_number_not_string_order(tmp_path: Path) -> None:
    for epoch in (998, 999, 1000, 1001):
        (tmp_path / epoch_checkpoint_name(epoch)).write_bytes(b"x")
    (tmp_path / "epoch_notes.pt").write_bytes(b"not ours")
    rotate_epoch_checkpoints(tmp_path, keep_last=2)
    assert sorted(p.name for p in tmp_path.glob("epoch_*.pt")) == ["epoch_1000.pt", "epoch_1001.pt", "epoch_notes.pt"]


class _RunsCode:
    """Unpickling this calls os.system: what a malicious 'checkpoint' does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("script", ["train", "infer"])
def test_crafted_pickle_checkpoint_is_refused_and_not_run(tmp_path: Path, dacon_root: Path, script: str,
                                                          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "chromafill-checkpoint", "version": 1, "payload": _RunsCode(marker)}, evil)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(_RunsCode(marker)))
    for path in (evil, plain):
        if script == "train":
            args = ["--config", str(SMOKE), f"data.root={dacon_root}", f"experiment.output_dir={tmp_path / 'runs'}",
                    "--resume", str(path)]
        else:
            args = ["--checkpoint", str(path), "--input", str(dacon_root / "test_input"), "--output", str(tmp_path / "out")]
        assert_one_error_line(run_script(script, args, monkeypatch, capsys), f"{path}: ")
        assert not marker.exists(), "unpickling ran code"


# -- disk full / unwritable output -----------------------------------------------------------------

def _full_disk_for(monkeypatch: pytest.MonkeyPatch, suffix: str) -> dict[str, int]:
    """Make fsync fail with ENOSPC for temporaries of files ending in `suffix` (a disk that fills up)."""
    real_fsync = os.fsync
    calls = {"n": 0}

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else ""
        if target.endswith(".tmp") and f"{suffix}." in Path(target).name:
            calls["n"] += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    return calls


def test_disk_full_while_saving_stops_with_one_line_and_keeps_the_last_good_checkpoint(
        dacon_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = smoke(dacon_root, tmp_path, "train.epochs=1")
    assert run_training(config) == 0
    run_dir = config.experiment.run_dir
    good = (run_dir / "last.pt").read_bytes()
    calls = _full_disk_for(monkeypatch, "last.pt")
    longer = smoke(dacon_root, tmp_path, "train.epochs=2", "train.checkpoint.every_steps=1")
    with pytest.raises(ChromaFillError) as info:
        run_training(longer, resume="auto")
    monkeypatch.undo()
    message = str(info.value)
    assert calls["n"] == 1
    assert "\n" not in message and message.startswith(f"{run_dir / 'last.pt'}: could not write the checkpoint")
    assert "No space left on device" in message and "the previous file is intact" in message
    assert (run_dir / "last.pt").read_bytes() == good
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == 1
    assert temporaries(run_dir) == []


def test_disk_full_on_any_other_write_is_one_line_at_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture) -> None:
    from utils.cli import run_cli
    from utils.config import dump

    config = load_config(SMOKE)
    _full_disk_for(monkeypatch, "config.yaml")
    with pytest.raises(SystemExit) as info:
        run_cli(lambda: dump(config, tmp_path / "config.yaml"))
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.count("\n") == 1 and err.startswith(f"error: {tmp_path / 'config.yaml'}: No space left on device")
    assert not (tmp_path / "config.yaml").exists() and temporaries(tmp_path) == []


def test_unwritable_output_folder_is_one_line_at_the_cli(dacon_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture) -> None:
    # Root ignores permissions, so the output "folder" is a file: nothing can be created under it.
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    args = ["--config", str(SMOKE), f"data.root={dacon_root}", f"experiment.output_dir={blocker}", *FAST]
    assert_one_error_line(run_script("train", args, monkeypatch, capsys), f"{blocker / 'smoke'}: Not a directory")


# -- non-finite losses under AMP -------------------------------------------------------------------

def _nan_once_then_finite(monkeypatch: pytest.MonkeyPatch, kind: str) -> dict[str, int]:
    """Patch the generator loss: step 1 is non-finite (`loss`: NaN loss; `grad`: finite loss, NaN grads)."""
    from losses.combined import GeneratorLoss

    original = GeneratorLoss.forward
    calls = {"n": 0}

    def patched(self, fake, *args, **kwargs):
        total, terms = original(self, fake, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            if kind == "loss":
                total = total * float("nan")
            else:  # sqrt'(0) is inf, times 0: the loss stays finite but every gradient is NaN
                total = total + 0.0 * torch.sqrt(fake.sum() * 0.0)
        return total, terms

    monkeypatch.setattr(GeneratorLoss, "forward", patched)
    return calls


@pytest.mark.parametrize("kind", ["loss", "grad"])
def test_nan_under_bf16_is_skipped_counted_and_weights_stay_finite(
        dacon_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    calls = _nan_once_then_finite(monkeypatch, kind)
    config = smoke(dacon_root, tmp_path, "train.amp=bf16", "train.device=cpu")
    assert run_training(config) == 0
    assert calls["n"] >= 2
    state = load_checkpoint(config.experiment.run_dir / "last.pt")
    assert state["trainer"]["nonfinite_total"] == 1
    for name, weights in state["trainer"]["generator"].items():
        assert torch.isfinite(weights.float()).all(), name


def test_persistent_nan_under_bf16_stops_clearly_with_a_finite_checkpoint(
        dacon_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from losses.combined import GeneratorLoss

    original = GeneratorLoss.forward
    monkeypatch.setattr(GeneratorLoss, "forward", lambda self, *a, **k: (original(self, *a, **k)[0] * float("nan"), {}))
    config = smoke(dacon_root, tmp_path, "train.amp=bf16", "train.device=cpu", "train.max_nonfinite_steps=2",
                   "train.epochs=3")
    with pytest.raises(ChromaFillError, match="2 non-finite losses in a row") as info:
        run_training(config)
    assert "\n" not in str(info.value)
    state = load_checkpoint(config.experiment.run_dir / "last.pt")
    assert state["trainer"]["nonfinite_total"] == 2
    assert all(torch.isfinite(w.float()).all() for w in state["trainer"]["generator"].values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 autocast with a GradScaler needs CUDA")
def test_nan_under_fp16_backs_off_the_scale_and_continues(
        dacon_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _nan_once_then_finite(monkeypatch, "loss")
    config = smoke(dacon_root, tmp_path, "train.amp=fp16", "train.device=cuda")
    assert run_training(config) == 0
    state = load_checkpoint(config.experiment.run_dir / "last.pt")
    assert state["trainer"]["nonfinite_total"] == 1
    assert state["trainer"]["scaler"]["scale"] < 65536.0


# -- Ctrl-C with DataLoader workers ----------------------------------------------------------------

def test_ctrl_c_with_workers_is_one_line_exit_130_with_a_checkpoint(tmp_path: Path) -> None:
    root = make_dacon_root(tmp_path / "data", n_train=40, n_test=1, size=(64, 64))
    out = tmp_path / "runs"
    args = ("train.epochs=1", "train.batch_size=1", "data.num_workers=2", "train.checkpoint.every_steps=2")
    # A new session = its own process group, like a terminal: Ctrl-C reaches the workers too.
    proc = subprocess.Popen(train_cmd(root, out, *args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + 90
    while not (out / "smoke" / "last.pt").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "stopped by SIGINT" in err and "Resume with: python train.py" in err
    state = load_checkpoint(out / "smoke" / "last.pt")
    assert state["epoch"] == 0 and state["step_in_epoch"] > 0


def test_atomic_writes_get_ordinary_permissions(tmp_path: Path) -> None:
    """mkstemp creates 0600 files; a checkpoint must be readable like any file the user creates."""
    target = tmp_path / "file.bin"
    atomic.atomic_write_bytes(target, b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
