"""evaluate.py and metrics.evaluate_dirs: file matching, errors naming files, the JSON schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from metrics.competition import lost_mask, score_image
from metrics.evaluate_dirs import evaluate_dirs
from utils.color import pil_luma
from utils.errors import ChromaFillError

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("a", "b", "c", "d")


def write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


@pytest.fixture()
def dirs(tmp_path: Path) -> Path:
    """gt/ (JPEG-named PNG pairs by stem), input/ with one rectangular hole each, pred/ (blurred gt)."""
    photo = skimage.data.astronaut()
    for i, name in enumerate(NAMES):
        gt = cv2.resize(photo[i * 60:i * 60 + 300, i * 40:i * 40 + 400], (80, 60), interpolation=cv2.INTER_AREA)
        gray = pil_luma(gt)
        gray[10:20 + 5 * i, 15:40] = 30
        write(tmp_path / "gt" / f"{name}.png", gt)
        write(tmp_path / "input" / f"{name}.png", gray)
        write(tmp_path / "pred" / f"{name}.png", cv2.GaussianBlur(gt, (5, 5), 0))
    return tmp_path


def run_evaluate(root: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "evaluate.py", "--pred", str(root / "pred"), "--gt", str(root / "gt"),
               "--input", str(root / "input"), *extra]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_cli_prints_rows_and_writes_json(dirs):
    out = dirs / "out" / "scores.json"
    result = run_evaluate(dirs, "--json", str(out), "--workers", "2")
    assert result.returncode == 0, result.stderr
    for word in (*NAMES, "mean", "small", "medium", "large"):
        assert word in result.stdout
    data = json.loads(out.read_text())
    assert set(data) == {"mean", "images", "by_area"}
    research_keys = {"psnr", "psnr_hole", "ssim", "ssim_hole", "cf_pred", "cf_gt", "cf_diff"}
    assert {"score", "ssim_full", "ssim_lost", "hist"} | research_keys <= set(data["mean"])
    assert research_keys <= set(data["by_area"]["small"]) and research_keys <= set(data["images"]["a"])
    assert "research metrics" in result.stdout and "psnr_hole" in result.stdout
    assert sorted(data["images"]) == list(NAMES)
    assert set(data["by_area"]) == {"small", "medium", "large"}
    assert sum(group["count"] for group in data["by_area"].values()) == len(NAMES)
    # The per-image figures are the exact metric of the files on disk.
    gt = cv2.cvtColor(cv2.imread(str(dirs / "gt" / "b.png")), cv2.COLOR_BGR2RGB)
    pred = cv2.cvtColor(cv2.imread(str(dirs / "pred" / "b.png")), cv2.COLOR_BGR2RGB)
    gray = cv2.imread(str(dirs / "input" / "b.png"), cv2.IMREAD_GRAYSCALE)
    expected = score_image(gt, pred, lost_mask(gray, gt))
    assert data["images"]["b"]["score"] == pytest.approx(expected["score"], abs=1e-12)
    assert data["mean"]["score"] == pytest.approx(np.mean([row["score"] for row in data["images"].values()]))
    assert data["mean"]["cf_gt"] == pytest.approx(np.mean([row["cf_gt"] for row in data["images"].values()]))


def test_cli_lpips_without_the_extra_is_one_line(dirs):
    pytest.importorskip("torch")
    import importlib.util
    if importlib.util.find_spec("torchmetrics") is not None:
        pytest.skip("the research extra is installed here")
    result = run_evaluate(dirs, "--lpips", "--workers", "1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: --lpips needs the optional package 'torchmetrics', which is not installed: pip install -e '.[research]'"]


def test_cli_missing_prediction_names_the_file(dirs):
    (dirs / "pred" / "c.png").unlink()
    result = run_evaluate(dirs)
    assert result.returncode == 2
    assert "c.png" in result.stderr and "missing prediction" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_extra_prediction_is_an_error(dirs):
    write(dirs / "pred" / "zz.png", np.zeros((60, 80, 3), np.uint8))
    with pytest.raises(ChromaFillError, match=r"zz\.png: extra prediction"):
        evaluate_dirs(dirs / "pred", dirs / "gt", dirs / "input", workers=1)


def test_wrong_size_prediction_is_an_error(dirs):
    write(dirs / "pred" / "b.png", np.zeros((50, 80, 3), np.uint8))
    with pytest.raises(ChromaFillError, match=r"b\.png: prediction size 80x50 differs"):
        evaluate_dirs(dirs / "pred", dirs / "gt", dirs / "input", workers=1)


def test_missing_ground_truth_and_folders(dirs):
    (dirs / "gt" / "d.png").unlink()
    with pytest.raises(ChromaFillError, match="missing ground truth"):
        evaluate_dirs(dirs / "pred", dirs / "gt", dirs / "input", workers=1)
    with pytest.raises(ChromaFillError, match="prediction folder not found"):
        evaluate_dirs(dirs / "nope", dirs / "gt", dirs / "input", workers=1)


def test_matches_by_stem_and_ignores_extra_ground_truth(dirs):
    gt = cv2.imread(str(dirs / "gt" / "a.png"))
    (dirs / "gt" / "a.png").unlink()
    cv2.imwrite(str(dirs / "gt" / "a.bmp"), gt)  # lossless, another extension
    write(dirs / "gt" / "unused.png", np.zeros((60, 80, 3), np.uint8))
    result = evaluate_dirs(dirs / "pred", dirs / "gt", dirs / "input", workers=1)
    assert list(result["images"]) == list(NAMES)
    assert 0 < result["images"]["a"]["lost_fraction"] < 0.2


def test_without_lpips_or_fid_each_image_is_read_once(dirs, monkeypatch):
    """The perceptual pass re-reads every pair serially: only when a network needs the pixels."""
    import metrics.evaluate_dirs as module

    reads = []
    real_read = module.read_rgb

    def counting_read(path):
        reads.append(Path(path).name)
        return real_read(path)

    monkeypatch.setattr(module, "read_rgb", counting_read)
    evaluate_dirs(dirs / "pred", dirs / "gt", dirs / "input", workers=1)
    assert sorted(reads) == sorted(f"{name}.png" for name in NAMES for _ in ("pred", "gt"))
