"""DACON layout: samples, the true mask, and every bad-input case failing with one line."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from data.build import build_datasets
from data.config import AugmentConfig, DamageConfig, DataConfig, ValConfig
from data.datasets import PairDataset, PairOptions
from data.sources import dacon_train_items
from data.synthetic import natural_image, write_dacon_dataset
from utils.color import pil_luma
from utils.errors import ChromaFillError


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    write_dacon_dataset(tmp_path, 6, 64, np.random.default_rng(0), DamageConfig(), tests=2)
    return tmp_path


def config(root: Path, **kw) -> DataConfig:
    kw.setdefault("val", ValConfig(fraction=0.34))
    return DataConfig(root=str(root), crop_size=kw.pop("crop_size", 48), **kw)


def test_samples_and_mask_equal_input_differs_from_luma(root: Path) -> None:
    splits = build_datasets(config(root, prefill="none"), seed=0)
    assert len(splits.train) == 4 and len(splits.val) == 2 and len(splits.test) == 2
    for ds in (splits.train, splits.val):
        for i in range(len(ds)):
            s = ds[i]
            raw = cv2.imread(str(root / "train_input" / s["name"]), cv2.IMREAD_GRAYSCALE)
            gt = cv2.cvtColor(cv2.imread(str(root / "train_gt" / s["name"])), cv2.COLOR_BGR2RGB)
            assert s["input"].dtype == torch.float32 and s["target"].shape[0] == 3 and s["mask"].shape[0] == 1
            gray = (s["input"][0] * 255).round().byte().numpy()
            target = (s["target"].permute(1, 2, 0) * 255).round().byte().numpy()
            mask = s["mask"][0].numpy() > 0.5
            assert np.array_equal(mask, gray != pil_luma(target)), "mask == input != L(gt)"
            if ds is splits.val:  # whole image: compare with the files themselves
                assert np.array_equal(gray, raw) and np.array_equal(target, gt)
                assert np.array_equal(mask, raw != pil_luma(gt))
                assert mask.any()


def test_prefilled_input_is_exact_outside_the_mask(root: Path) -> None:
    s = build_datasets(config(root, prefill="telea"), seed=0).val[0]
    outside = s["mask"] == 0
    assert torch.equal(s["input"][outside], s["raw_input"][outside])
    assert not torch.equal(s["input"], s["raw_input"])


def test_rgb_input_is_converted_with_pil_luma(root: Path) -> None:
    gt = cv2.imread(str(root / "train_gt" / "TRAIN_00000.png"))
    cv2.imwrite(str(root / "train_input" / "TRAIN_00000.png"), gt)  # an undamaged RGB "input"
    items = dacon_train_items(root)
    options = PairOptions(crop_size=48, augment=AugmentConfig(), damage=DamageConfig(), prefill="none")
    sample = PairDataset(items[:1], options, seed=0, train=False)[0]
    assert sample["name"] == "TRAIN_00000.png"
    assert sample["mask"].sum() == 0, "the L conversion of the RGB input is exact"


def test_resynthesis_replaces_the_damage(root: Path) -> None:
    keep = build_datasets(config(root, crop_size=64, resynth_prob=0.0), seed=0).train
    new = build_datasets(config(root, crop_size=64, resynth_prob=1.0), seed=0).train
    differ = 0
    for i in range(len(keep)):
        a, b = keep[(0, i)], new[(0, i)]
        assert a["name"] == b["name"]
        gray = (b["raw_input"][0] * 255).round().byte().numpy()
        target = (b["target"].permute(1, 2, 0) * 255).round().byte().numpy()
        mask = b["mask"][0].numpy() > 0.5
        assert np.array_equal(gray[~mask], pil_luma(target)[~mask])
        assert len(np.unique(gray[mask])) == 1
        differ += int(not torch.equal(a["mask"], b["mask"]))
    assert differ >= len(keep) - 1


def rewrite_csv(root: Path, mutate) -> None:
    lines = (root / "train.csv").read_text().splitlines()
    (root / "train.csv").write_text("\n".join(mutate(lines)) + "\n")


def set_row(index: int, text: str):
    def mutate(lines: list[str]) -> list[str]:
        lines[index] = text
        return lines

    return mutate


BAD_CASES = {
    "missing file": (
        lambda r: (r / "train_gt" / "TRAIN_00002.png").unlink(),
        r"train.csv row 3 \(id TRAIN_00002\): .*train_gt/TRAIN_00002.png: image file not found",
    ),
    "corrupt png": (
        lambda r: (r / "train_input" / "TRAIN_00001.png").write_bytes(b"this is not an image"),
        r"train.csv row 2 \(id TRAIN_00001\): .*train_input/TRAIN_00001.png: not a readable image",
    ),
    "truncated png": (
        lambda r: (r / "train_gt" / "TRAIN_00004.png").write_bytes((r / "train_gt" / "TRAIN_00004.png").read_bytes()[:300]),
        r"train.csv row 5 \(id TRAIN_00004\): .*TRAIN_00004.png: truncated PNG",
    ),
    "empty file": (
        lambda r: (r / "train_gt" / "TRAIN_00000.png").write_bytes(b""),
        r"row 1 \(id TRAIN_00000\): .*TRAIN_00000.png: the file is empty",
    ),
    "size mismatch": (
        lambda r: cv2.imwrite(str(r / "train_input" / "TRAIN_00003.png"), np.zeros((60, 64), np.uint8)),
        r"train.csv row 4 \(id TRAIN_00003\): size mismatch: input .*TRAIN_00003.png is 64x60, ground truth .*TRAIN_00003.png is 64x64",
    ),
    "missing column": (
        lambda r: rewrite_csv(r, set_row(0, "id,input_image_path,gt_path")),
        r"train.csv: missing column 'gt_image_path' \(columns found: id, input_image_path, gt_path\)",
    ),
    "empty csv": (lambda r: (r / "train.csv").write_text(""), r"train.csv: the CSV is empty"),
    "header only": (lambda r: rewrite_csv(r, lambda lines: lines[:1]), r"train.csv: the CSV has a header but no rows"),
    "duplicate id": (
        lambda r: rewrite_csv(r, set_row(3, "TRAIN_00000,./train_input/TRAIN_00002.png,./train_gt/TRAIN_00002.png")),
        r"train.csv row 3 \(id TRAIN_00000\): duplicate id, already used in row 1",
    ),
    "path escaping the root": (
        lambda r: rewrite_csv(r, set_row(2, "TRAIN_00001,../../etc/passwd,./train_gt/TRAIN_00001.png")),
        r"train.csv row 2 \(id TRAIN_00001\): path '../../etc/passwd' points outside the dataset folder",
    ),
    "absolute path": (
        lambda r: rewrite_csv(r, set_row(2, "TRAIN_00001,/etc/passwd,./train_gt/TRAIN_00001.png")),
        r"train.csv row 2 \(id TRAIN_00001\): path '/etc/passwd' points outside",
    ),
    "missing csv": (lambda r: (r / "train.csv").unlink(), r"train.csv: CSV file not found"),
    "bad test file": (
        lambda r: (r / "test_input" / "TEST_001.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken"),
        r"test.csv row 2 \(id TEST_001\): .*TEST_001.png: corrupt PNG",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_fails_before_training_with_one_line(root: Path, case: str) -> None:
    damage, pattern = BAD_CASES[case]
    damage(root)
    with pytest.raises(ChromaFillError, match=pattern) as info:
        build_datasets(config(root), seed=0)
    assert "\n" not in str(info.value)


def test_crop_larger_than_the_images(root: Path) -> None:
    with pytest.raises(ChromaFillError, match=r"TRAIN_\d+.png: image is 64x64 pixels, smaller than data.crop_size 96; .*pad_if_smaller"):
        build_datasets(config(root, crop_size=96), seed=0)
    train = build_datasets(config(root, crop_size=96, pad_if_smaller=True), seed=0).train
    s = train[0]
    assert s["input"].shape == (1, 96, 96) and s["target"].shape == (3, 96, 96) and s["mask"].shape == (1, 96, 96)


def test_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ChromaFillError, match="data.root: got .*nowhere.*expected an existing folder"):
        build_datasets(config(tmp_path / "nowhere"), seed=0)


def test_dacon_without_test_csv_has_no_test_split(tmp_path: Path) -> None:
    write_dacon_dataset(tmp_path, 3, 48, np.random.default_rng(1), DamageConfig())
    assert build_datasets(config(tmp_path, crop_size=32), seed=0).test is None


def test_natural_image_helper_is_colourful() -> None:
    rgb = natural_image(32, 32, np.random.default_rng(0))
    assert rgb.dtype == np.uint8 and np.ptp(rgb.astype(int), axis=2).mean() > 5
