"""infer.py end to end: any input size, names and sizes kept, a flat zip, clear checkpoint errors."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.dacon_fixture import make_dacon_root
from trainers.config import load_config
from trainers.inference import InferenceOptions, load_generator, run_inference
from trainers.loop import run_training

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_dacon_root(tmp_path_factory.mktemp("dacon"))
    out = tmp_path_factory.mktemp("runs")
    config = load_config(REPO / "configs" / "smoke.yaml", [f"data.root={root}", f"experiment.output_dir={out}",
                                                            "train.test.enabled=false"])
    run_training(config)
    return config.experiment.run_dir / "best.pt"


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    """Damaged gray inputs of three sizes, each with a constant-gray hole."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name, (h, w) in {"a.png": (64, 64), "b.png": (75, 101), "c.png": (50, 33)}.items():
        gray = cv2.GaussianBlur(rng.integers(0, 256, (h, w), dtype=np.uint8), (7, 7), 2)
        gray = np.clip(gray.astype(int) * 2 - 100, 120, 255).astype(np.uint8)
        gray[h // 4: h // 2, w // 4: w // 2] = 40
        cv2.imwrite(str(folder / name), gray)
    return folder


def test_predicts_every_size_and_zips_flat(checkpoint: Path, inputs: Path, tmp_path: Path) -> None:
    out, archive = tmp_path / "out", tmp_path / "sub.zip"
    out.mkdir()
    (out / "stale.png").write_bytes(b"old")  # a file from an earlier call must not be zipped
    names = run_inference(InferenceOptions(checkpoint=checkpoint, input=inputs, output=out, zip=archive, batch_size=2,
                                           save_masks=tmp_path / "masks"))
    assert sorted(names) == ["a.png", "b.png", "c.png"]
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == ["a.png", "b.png", "c.png"]
    for name in names:
        pred = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        source = cv2.imread(str(inputs / name), cv2.IMREAD_UNCHANGED)
        assert pred.shape == (*source.shape, 3)
        mask = cv2.imread(str(tmp_path / "masks" / name), cv2.IMREAD_UNCHANGED)
        h, w = source.shape
        assert mask[h // 4 + 2, w // 4 + 2] == 255 and mask[0, 0] == 0


def test_tta_and_amp_options_run_and_stay_close(checkpoint: Path, inputs: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    fancy = tmp_path / "fancy"
    run_inference(InferenceOptions(checkpoint=checkpoint, input=inputs, output=plain))
    run_inference(InferenceOptions(checkpoint=checkpoint, input=inputs, output=fancy, tta=True, amp=True, use_ema=False))
    a = cv2.imread(str(plain / "b.png")).astype(int)
    b = cv2.imread(str(fancy / "b.png")).astype(int)
    assert a.shape == b.shape and np.abs(a - b).mean() < 40


def test_ema_weights_are_used_unless_disabled(checkpoint: Path) -> None:
    ema, _, is_ema = load_generator(checkpoint, torch.device("cpu"), use_ema=True)
    raw, _, is_raw_ema = load_generator(checkpoint, torch.device("cpu"), use_ema=False)
    assert is_ema and not is_raw_ema
    differs = any(not torch.equal(p, q) for p, q in zip(ema.state_dict().values(), raw.state_dict().values()))
    assert differs


def test_loaded_generator_is_folded_and_predicts_as_the_trained_one(checkpoint: Path) -> None:
    """load_generator folds BatchNorm (and skips the random init): same output as a plain eval-mode load."""
    from models.build import build_generator
    from trainers.checkpoint import generator_weights, load_checkpoint

    loaded, config, _ = load_generator(checkpoint, torch.device("cpu"))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.modules())
    plain = build_generator(config.model)
    plain.load_state_dict(generator_weights(load_checkpoint(checkpoint, "cpu"))[0])
    plain.eval()
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    gray, mask = torch.rand(2, 1, 64, 48), (torch.rand(2, 1, 64, 48) > 0.9).float()
    with torch.no_grad():
        assert torch.allclose(loaded(gray, mask), plain(gray, mask), atol=1e-5)


def test_cli_reads_a_test_csv(checkpoint: Path, tmp_path: Path) -> None:
    root = make_dacon_root(tmp_path / "d", n_train=1, n_test=3)
    done = subprocess.run([sys.executable, "infer.py", "--checkpoint", str(checkpoint), "--input", str(root / "test.csv"),
                           "--output", str(tmp_path / "o"), "--zip", str(tmp_path / "s.zip")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / "s.zip") as zf:
        assert sorted(zf.namelist()) == ["TEST_000.png", "TEST_001.png", "TEST_002.png"]


@pytest.mark.parametrize("content, message", [
    (b"id,input_image_path\n", "not a checkpoint file (truncated, corrupt, or not written by ChromaFill)"),
    (None, "not a checkpoint file (truncated, corrupt, or not written by ChromaFill)"),
])
def test_bad_checkpoint_is_one_clear_line(checkpoint: Path, inputs: Path, tmp_path: Path, content: bytes | None, message: str) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content if content is not None else checkpoint.read_bytes()[:5000])
    done = subprocess.run([sys.executable, "infer.py", "--checkpoint", str(bad), "--input", str(inputs), "--output", str(tmp_path / "o")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {bad}: {message}"


def test_foreign_torch_file_is_not_ours(tmp_path: Path, inputs: Path) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, foreign)
    done = subprocess.run([sys.executable, "infer.py", "--checkpoint", str(foreign), "--input", str(inputs), "--output", str(tmp_path / "o")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {foreign}: not a ChromaFill checkpoint (no 'chromafill-checkpoint' marker)"
