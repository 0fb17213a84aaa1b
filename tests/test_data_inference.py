"""Test-time samples from a folder or test.csv: detected or given masks, bad files."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from data.config import DamageConfig
from data.damage import synthesize_damage
from data.inference_set import InferenceDataset
from data.synthetic import natural_image
from utils.errors import ChromaFillError


def write_inputs(folder: Path, sizes: list[tuple[int, int]], seed: int = 0) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    rng, masks = np.random.default_rng(seed), {}
    for i, (h, w) in enumerate(sizes):
        gray, mask = synthesize_damage(natural_image(h, w, rng), rng, DamageConfig())
        cv2.imwrite(str(folder / f"TEST_{i:03d}.png"), gray)
        masks[f"TEST_{i:03d}.png"] = mask
    return masks


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_folder_with_detected_masks(tmp_path: Path) -> None:
    truth = write_inputs(tmp_path, [(64, 80), (90, 70)])
    ds = InferenceDataset(tmp_path, prefill="telea")
    assert len(ds) == 2
    for i in range(2):
        s = ds[i]
        h, w = s["orig_size"]
        assert s["input"].shape == (1, h, w) and s["mask"].shape == (1, h, w) and "target" not in s
        assert iou(s["mask"][0].numpy() > 0.5, truth[s["name"]]) > 0.9
        outside = s["mask"] == 0
        assert torch.equal(s["input"][outside], s["raw_input"][outside])
    assert [ds[i]["orig_size"] for i in range(2)] == [(64, 80), (90, 70)]


def test_csv_source_and_masks_dir(tmp_path: Path) -> None:
    truth = write_inputs(tmp_path / "test_input", [(48, 48)])
    (tmp_path / "test.csv").write_text("id,input_image_path\nTEST_000,./test_input/TEST_000.png\n")
    masks = tmp_path / "masks"
    masks.mkdir()
    given = np.zeros((48, 48), np.uint8)
    given[10:20, 5:30] = 255
    cv2.imwrite(str(masks / "TEST_000.png"), given)
    s = InferenceDataset(tmp_path / "test.csv", prefill="none", masks_dir=masks)[0]
    assert s["name"] == "TEST_000.png"
    assert np.array_equal(s["mask"][0].numpy() > 0.5, given == 255)
    detected = InferenceDataset(tmp_path / "test.csv")[0]
    assert iou(detected["mask"][0].numpy() > 0.5, truth["TEST_000.png"]) > 0.9
    cv2.imwrite(str(masks / "TEST_000.png"), given[:40])
    with pytest.raises(ChromaFillError, match=r"test.csv row 1 \(id TEST_000\): mask .* is 48x40, its image .* is 48x48"):
        InferenceDataset(tmp_path / "test.csv", masks_dir=masks)


def test_bad_files_fail_naming_them_or_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_inputs(tmp_path, [(40, 40), (40, 40)])
    (tmp_path / "TEST_001.png").write_bytes(b"garbage")
    with pytest.raises(ChromaFillError, match=r"TEST_001.png: not a readable image"):
        InferenceDataset(tmp_path)
    with caplog.at_level(logging.WARNING):
        ds = InferenceDataset(tmp_path, skip_bad=True)
    assert [item.name for item in ds.items] == ["TEST_000.png"]
    assert any("TEST_001.png" in r.getMessage() for r in caplog.records)


def test_csv_errors(tmp_path: Path) -> None:
    write_inputs(tmp_path / "in", [(40, 40)])
    csv = tmp_path / "test.csv"
    csv.write_text("id,path\nA,in/TEST_000.png\n")
    with pytest.raises(ChromaFillError, match="missing column 'input_image_path'"):
        InferenceDataset(csv)
    csv.write_text("id,input_image_path\nA,in/TEST_000.png\nB,in/TEST_000.png\n")
    with pytest.raises(ChromaFillError, match=r"row 2 \(id B\): file name 'TEST_000.png' already used in row 1"):
        InferenceDataset(csv)
    csv.write_text("input_image_path\n../../etc/passwd\n")
    with pytest.raises(ChromaFillError, match="row 1: path '../../etc/passwd' points outside"):
        InferenceDataset(csv)
    with pytest.raises(ChromaFillError, match="expected a folder of images or a .csv"):
        InferenceDataset(tmp_path / "nothing.txt")
