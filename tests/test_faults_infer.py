"""Inference on awkward input folders: stray files, odd sizes, stale outputs, unwritable outputs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.dacon_fixture import make_dacon_root
from tests.fault_helpers import assert_one_error_line, run_script
from tests.test_faults_data import png_with_header
from trainers.config import load_config
from trainers.inference import InferenceOptions, run_inference
from trainers.loop import run_training
from utils.color import pil_luma

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "smoke.yaml"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """best.pt of a one-epoch smoke run: a tiny generator, so a 4000x3000 image predicts in seconds."""
    root = make_dacon_root(tmp_path_factory.mktemp("dacon"), n_test=1)
    out = tmp_path_factory.mktemp("runs")
    config = load_config(SMOKE, [f"data.root={root}", f"experiment.output_dir={out}", "train.test.enabled=false"])
    assert run_training(config) == 0
    return config.experiment.run_dir / "best.pt"


def damaged(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A gray image with one constant-filled hole (where the image is big enough to hold one)."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    rgb = cv2.GaussianBlur(rgb, (0, 0), 3) if min(height, width) > 8 else rgb
    gray = pil_luma(rgb)
    if min(height, width) >= 16:
        gray[height // 4: height // 2, width // 4: width // 2] = 40
    return gray


def infer_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "infer.py", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_non_image_files_are_ignored_and_odd_sizes_predict_at_their_size(checkpoint: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    sizes = {"one.png": (1, 1), "odd.png": (5, 7), "big.png": (3000, 4000), "tall.jpg": (33, 17)}
    for name, (h, w) in sizes.items():
        assert cv2.imwrite(str(inputs / name), damaged(h, w))
    (inputs / "README.txt").write_text("not an image")
    (inputs / "labels.csv").write_text("id\n1\n")
    (inputs / ".DS_Store").write_bytes(b"\x00\x01")
    (inputs / "sub").mkdir()
    assert cv2.imwrite(str(inputs / "sub" / "nested.png"), damaged(16, 16))  # not recursive: ignored
    out, archive = tmp_path / "out", tmp_path / "sub.zip"
    names = run_inference(InferenceOptions(checkpoint=checkpoint, input=inputs, output=out, zip=archive, device="cpu"))
    assert sorted(names) == sorted(sizes)
    for name, (h, w) in sizes.items():
        image = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        assert image.shape == (h, w, 3), name
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == sorted(sizes)


def test_stale_files_in_the_output_folder_are_not_zipped(checkpoint: Path, tmp_path: Path) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    for name in ("TEST_000.png", "TEST_001.png"):
        cv2.imwrite(str(inputs / name), damaged(40, 48))
    (out / "TEST_999.png").write_bytes(b"an old prediction")
    (out / "TEST_000.png").write_bytes(b"an old prediction of the same name")
    archive = tmp_path / "submission.zip"
    archive.write_bytes(b"an old zip")
    done = infer_cli("--checkpoint", str(checkpoint), "--input", str(inputs), "--output", str(out), "--zip", str(archive),
                     "--device", "cpu")
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == ["TEST_000.png", "TEST_001.png"]
        for name in zf.namelist():
            assert cv2.imdecode(np.frombuffer(zf.read(name), np.uint8), cv2.IMREAD_UNCHANGED).shape == (40, 48, 3)
    assert (out / "TEST_999.png").read_bytes() == b"an old prediction"  # left alone, not deleted, not zipped


@pytest.mark.parametrize("case", ["no images", "unreadable image", "huge header", "corrupt body", "missing input",
                                  "output is a file", "missing checkpoint"])
def test_bad_inference_inputs_are_one_line(checkpoint: Path, tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    cv2.imwrite(str(inputs / "good.png"), damaged(24, 24))
    ckpt = checkpoint
    if case == "no images":
        (inputs / "good.png").unlink()
        (inputs / "notes.txt").write_text("x")
        expected = f"error: {inputs}: no images found in the folder"
    elif case == "unreadable image":
        (inputs / "bad.png").write_bytes(b"")
        expected = f"error: {inputs / 'bad.png'}: {inputs / 'bad.png'}: the file is empty (0 bytes), expected an image"
    elif case == "huge header":
        png_with_header(inputs / "huge.png", 20000, 20000)
        expected = f"error: {inputs / 'huge.png'}: {inputs / 'huge.png'}: image is 20000x20000 pixels, more than the 64 MP limit"
    elif case == "corrupt body":
        # The header passes the up-front check; the decode fails later, in the background reader thread.
        for i in range(6):
            cv2.imwrite(str(inputs / f"ok{i}.png"), damaged(24, 24))
        data = (inputs / "good.png").read_bytes()
        (inputs / "zz_cut.png").write_bytes(data[:40] + b"\0" * (len(data) - 52) + data[-12:])  # IHDR and IEND intact
        expected = f"error: {inputs / 'zz_cut.png'}: not a readable image"
    elif case == "missing input":
        inputs = tmp_path / "nowhere"
        expected = f"error: {inputs}: expected a folder of images or a .csv file"
    elif case == "output is a file":
        out.write_text("a file where the output folder should be")
        expected = f"error: {out}: the output folder exists as a file"
    else:
        ckpt = tmp_path / "nope.pt"
        expected = f"error: {ckpt}: checkpoint not found"
    args = ["--checkpoint", str(ckpt), "--input", str(inputs), "--output", str(out), "--device", "cpu"]
    line = assert_one_error_line(run_script("infer", args, monkeypatch, capsys))
    assert line.startswith(expected), line


def test_skip_bad_predicts_the_rest(checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    cv2.imwrite(str(inputs / "good.png"), damaged(24, 24))
    (inputs / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    args = ["--checkpoint", str(checkpoint), "--input", str(inputs), "--output", str(tmp_path / "out"), "--device", "cpu",
            "--skip-bad"]
    assert run_script("infer", args, monkeypatch, capsys).returncode == 0
    assert "skipping" in caplog.text and "bad.png" in caplog.text
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png"]


class _DiskFullHalfway:
    """A file object whose write stores the first half of the data, then fails as a full disk does."""

    def __init__(self, handle) -> None:
        self.handle = handle

    def write(self, data) -> int:
        self.handle.write(bytes(data)[: len(data) // 2])
        self.handle.flush()
        raise OSError(28, "No space left on device")

    def __getattr__(self, name: str):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()


@pytest.mark.parametrize("target", ["prediction", "mask"])
def test_a_full_disk_mid_write_leaves_no_truncated_file(checkpoint: Path, tmp_path: Path, target: str,
                                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """A write that dies halfway leaves the old prediction/mask intact (or none), and no temporary file."""
    import os

    import utils.atomic

    inputs, out, masks = tmp_path / "in", tmp_path / "out", tmp_path / "masks"
    inputs.mkdir()
    cv2.imwrite(str(inputs / "a.png"), damaged(40, 48))
    folder = out if target == "prediction" else masks
    folder.mkdir()
    (folder / "a.png").write_bytes(b"the previous file")
    real_fdopen = os.fdopen
    monkeypatch.setattr(utils.atomic.os, "fdopen", lambda fd, mode: _DiskFullHalfway(real_fdopen(fd, mode)))
    args = ["--checkpoint", str(checkpoint), "--input", str(inputs), "--output", str(out), "--device", "cpu"]
    args += ["--save-masks", str(masks)] if target == "mask" else []
    line = assert_one_error_line(run_script("infer", args, monkeypatch, capsys))
    assert line.startswith(f"error: {folder / 'a.png'}: could not write the image (No space left on device)"), line
    assert (folder / "a.png").read_bytes() == b"the previous file"
    assert sorted(p.name for p in folder.iterdir()) == ["a.png"]
