"""Photo folders: colour photos become pairs with synthesized damage; gray ones are skipped."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from data.build import build_datasets
from data.config import DataConfig, ValConfig
from data.synthetic import natural_image
from tests.sample_helpers import as_uint8
from utils.color import pil_luma
from utils.errors import ChromaFillError


def write_photos(folder: Path, count: int, rng: np.random.Generator, size=(72, 96)) -> None:
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        where = folder / "sub" if i % 2 else folder
        ext = ".jpg" if i % 3 == 0 else ".png"
        cv2.imwrite(str(where / f"img{i:02d}{ext}"), natural_image(*size, rng)[:, :, ::-1])


def test_photos_train_and_val_samples(tmp_path: Path) -> None:
    write_photos(tmp_path, 10, np.random.default_rng(0))
    cfg = DataConfig(format="photos", root=str(tmp_path), crop_size=48, prefill="none", val=ValConfig(fraction=0.2))
    splits = build_datasets(cfg, seed=0)
    assert len(splits.train) == 8 and len(splits.val) == 2 and splits.test is None
    s = splits.train[(0, 0)]
    gray, target, mask = as_uint8(s["input"][0]), as_uint8(s["target"].permute(1, 2, 0)), s["mask"][0].numpy() > 0.5
    assert gray.shape == (48, 48) and s["name"].startswith("img")
    assert np.array_equal(gray[~mask], pil_luma(target)[~mask])
    # A new damage at every draw in training; one fixed damage per image in validation.
    assert not torch.equal(splits.train[(0, 0)]["mask"], splits.train[(1, 0)]["mask"])
    assert torch.equal(splits.train[(1, 0)]["mask"], splits.train[(1, 0)]["mask"])
    v0, v1 = splits.val[(0, 0)], splits.val[(5, 0)]
    assert torch.equal(v0["mask"], v1["mask"]) and torch.equal(v0["input"], v1["input"])
    assert v0["input"].shape == (1, 72, 96) and v0["mask"].sum() > 0


def test_gray_photos_are_reported_once_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_photos(tmp_path, 4, np.random.default_rng(1))
    gray = pil_luma(natural_image(72, 96, np.random.default_rng(2)))
    cv2.imwrite(str(tmp_path / "gray1.png"), gray)
    cv2.imwrite(str(tmp_path / "gray2.jpg"), np.repeat(gray[:, :, None], 3, axis=2))  # gray stored as RGB
    cfg = DataConfig(format="photos", root=str(tmp_path), crop_size=48, val=ValConfig(fraction=0.0))
    with caplog.at_level(logging.WARNING):
        train = build_datasets(cfg, seed=0).train
    assert len(train) == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 2 gray photo(s)" in warnings[0]


def test_empty_or_all_gray_folder_is_an_error(tmp_path: Path) -> None:
    cfg = DataConfig(format="photos", root=str(tmp_path), crop_size=48)
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ChromaFillError, match=r"no images found \(looked recursively for .png"):
        build_datasets(cfg, seed=0)
    cv2.imwrite(str(tmp_path / "g.png"), np.zeros((50, 50), np.uint8))
    with pytest.raises(ChromaFillError, match="all 1 images are gray"):
        build_datasets(cfg, seed=0)


def test_crop_and_val_size_checks_and_padding(tmp_path: Path) -> None:
    write_photos(tmp_path, 4, np.random.default_rng(3), size=(40, 60))
    cfg = DataConfig(format="photos", root=str(tmp_path), crop_size=48, val=ValConfig(fraction=0.0))
    with pytest.raises(ChromaFillError, match=r"img\d\d.(png|jpg): image is 60x40 pixels, smaller than data.crop_size 48"):
        build_datasets(cfg, seed=0)
    cfg.pad_if_smaller = True
    assert build_datasets(cfg, seed=0).train[0]["target"].shape == (3, 48, 48)
    cfg = DataConfig(format="photos", root=str(tmp_path), crop_size=32, val_size=36, val=ValConfig(fraction=0.5))
    val = build_datasets(cfg, seed=0).val
    assert val[0]["target"].shape == (3, 36, 36) and val[0]["mask"].shape == (1, 36, 36)


def test_group_mode_builds_and_caches(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 6, np.random.default_rng(4))
    cfg = DataConfig(
        format="photos", root=str(tmp_path / "photos"), crop_size=32, cache_dir=str(tmp_path / "cache"), val=ValConfig(fraction=0.34, group=True)
    )
    splits = build_datasets(cfg, seed=0)
    assert len(splits.train) + len(splits.val) == 6
    assert len(list((tmp_path / "cache").glob("thumbs_*.npz"))) == 1


def test_test_dir_for_photos(tmp_path: Path) -> None:
    write_photos(tmp_path / "train", 3, np.random.default_rng(5))
    (tmp_path / "test").mkdir()
    cv2.imwrite(str(tmp_path / "test" / "a.png"), pil_luma(natural_image(40, 50, np.random.default_rng(6))))
    cfg = DataConfig(format="photos", root=str(tmp_path / "train"), crop_size=32, test_dir=str(tmp_path / "test"))
    test = build_datasets(cfg, seed=0).test
    assert len(test) == 1 and test[0]["orig_size"] == (40, 50)
    cfg.test_dir = str(tmp_path / "missing")
    with pytest.raises(ChromaFillError, match="data.test_dir"):
        build_datasets(cfg, seed=0)
