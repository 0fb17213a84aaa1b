"""Slow pre-fills in training: whole-photo fills on a fixed damage schedule, served from a disk cache
that returns exactly what direct computation would and misses when the damage or method changes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import data.prefill_cache as prefill_cache
from data.build import build_datasets
from data.config import AugmentConfig, DamageConfig, DataConfig, ValConfig
from data.damage import synthesize_damage
from data.datasets import PairDataset, PairOptions
from data.prefill import prefill
from data.prefill_cache import PrefillCache
from data.sources import photo_items
from data.synthetic import natural_image
from tests.fault_helpers import run_script
from tests.sample_helpers import as_uint8, write_natural_photos
from trainers.config import load_config
from utils.errors import ChromaFillError

CROP = 32
CPU_BUDGET = Path(__file__).resolve().parent.parent / "configs" / "cpu_budget.yaml"


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    return write_natural_photos(tmp_path / "photos", 3, 48, 64)


def dataset(photos: Path, cache: Path | None, seed: int = 0, damages: int = 2, **augment: object) -> PairDataset:
    options = PairOptions(crop_size=CROP, augment=AugmentConfig(**{"hflip": False, **augment}), damage=DamageConfig(area_min=0.08),
                          prefill="fsr_fast", prefill_damages=damages, prefill_cache=None if cache is None else str(cache))
    return PairDataset(photo_items(photos), options, seed, train=True)


def cache_files(folder: Path) -> set[Path]:
    return set(folder.rglob("*.png"))


def forbid_computing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object) -> None:
        raise AssertionError("computed a fill the cache holds")

    monkeypatch.setattr(prefill_cache, "prefill", fail)


def test_a_hit_returns_exactly_the_direct_fill_and_new_damage_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rgb = natural_image(48, 64, np.random.default_rng(1))
    gray, mask = synthesize_damage(rgb, np.random.default_rng(2), DamageConfig())
    cache = PrefillCache(tmp_path, "fsr_fast")
    direct = prefill(gray, mask, "fsr_fast")
    assert np.array_equal(cache(gray, mask), direct)  # miss: computed and stored
    assert len(cache_files(tmp_path)) == 1
    other_gray, other_mask = synthesize_damage(rgb, np.random.default_rng(3), DamageConfig())
    with monkeypatch.context() as patch:
        forbid_computing(patch)
        assert np.array_equal(cache(gray, mask), direct)  # hit: read back bit-exactly
        with pytest.raises(AssertionError, match="computed"):
            cache(other_gray, other_mask)  # other damage: a miss, never the stored fill
    assert PrefillCache(tmp_path, "shiftmap").path(gray, mask) != cache.path(gray, mask)


def test_training_samples_are_the_same_with_and_without_the_cache(photos: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cached, direct = dataset(photos, tmp_path / "cache", scale_min=0.6), dataset(photos, None, scale_min=0.6)
    keys = [(epoch, index) for epoch in range(2) for index in range(3)]
    cold = [cached[key] for key in keys]
    assert len(cache_files(tmp_path / "cache")) == 6, "2 damages x 3 photos, each filled once"
    forbid_computing(monkeypatch)
    warm = [cached[(epoch + 2, index)] for epoch, index in keys]  # epochs 2, 3 reuse damages 0, 1
    monkeypatch.undo()
    for key, a, b in zip(keys, cold, [direct[key] for key in keys]):
        assert all(torch.equal(a[k], b[k]) for k in ("input", "raw_input", "mask", "target")), key
    for a, b in zip(cold, warm):
        assert not torch.equal(a["target"], b["target"]), "crops stay fresh every epoch"


def test_a_crop_sees_the_fill_of_the_whole_photo(photos: Path) -> None:
    """The fill is computed on the whole damaged photo, as at inference, then cropped, so it holds
    context from outside the crop."""
    ds = dataset(photos, None, damages=1)
    item = ds.items[0]
    rgb = cv2.imread(str(item.target))[:, :, ::-1]
    gray, mask = synthesize_damage(rgb, np.random.default_rng([0, 0xDA3, 0, 0]), ds.options.damage)
    whole = prefill(gray, mask, "fsr_fast")
    sample = ds[(0, 0)]
    target = as_uint8(sample["target"].permute(1, 2, 0))
    found = [(y, x) for y in range(48 - CROP + 1) for x in range(64 - CROP + 1) if np.array_equal(rgb[y:y + CROP, x:x + CROP], target)]
    assert len(found) == 1
    y, x = found[0]
    assert np.array_equal(as_uint8(sample["mask"][0]) > 0, mask[y:y + CROP, x:x + CROP])
    assert np.array_equal(as_uint8(sample["input"][0]), whole[y:y + CROP, x:x + CROP])


def test_rescaled_crops_keep_the_input_exact_outside_the_hole(photos: Path) -> None:
    ds = dataset(photos, None, scale_min=0.5, hflip=True)
    for epoch in range(4):
        s = ds[(epoch, 1)]
        hole = s["mask"][0] > 0.5
        assert s["input"].shape == (1, CROP, CROP)
        assert torch.equal(s["input"][0][~hole], s["raw_input"][0][~hole])


def test_the_cache_misses_when_the_seed_or_damage_config_changes(photos: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    for seed in (0, 1):
        ds = dataset(photos, folder, seed=seed, damages=1)
        ds[(0, 0)]
    assert len(cache_files(folder)) == 2
    ds = dataset(photos, folder, seed=0, damages=1)
    ds.options.damage = DamageConfig(area_min=0.12)
    ds[(0, 0)]
    assert len(cache_files(folder)) == 3


def test_build_datasets_caches_train_val_and_test_fills_under_cache_dir(photos: Path, tmp_path: Path) -> None:
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    gray, mask = synthesize_damage(natural_image(40, 40, np.random.default_rng(5)), np.random.default_rng(6), DamageConfig())
    cv2.imwrite(str(test_dir / "t.png"), gray)
    cfg = DataConfig(format="photos", root=str(photos), crop_size=CROP, prefill="fsr_fast", cache_dir=str(tmp_path / "c"),
                     test_dir=str(test_dir), val=ValConfig(fraction=0.34))
    splits = build_datasets(cfg, seed=0)
    v = splits.val[0]
    raw, hole = as_uint8(v["raw_input"][0]), as_uint8(v["mask"][0]) > 0
    assert np.array_equal(as_uint8(v["input"][0]), prefill(raw, hole, "fsr_fast")), "validation: the whole image's fill"
    splits.train[(0, 0)]
    t = splits.test[0]
    assert np.array_equal(as_uint8(t["input"][0]), prefill(gray, as_uint8(t["mask"][0]) > 0, "fsr_fast"))
    assert len(cache_files(tmp_path / "c" / "prefill" / "fsr_fast")) == 3


def test_an_unwritable_cache_fails_naming_data_cache_dir(photos: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ChromaFillError, match="cannot write the prefill cache.*data.cache_dir"):
        dataset(photos, blocker)[(0, 0)]


def test_warming_the_cache_computes_every_fill_a_run_needs(photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture) -> None:
    overrides = [f"data.root={photos}", "data.prefill=fsr_fast", "data.prefill_damages=2", f"data.crop_size={CROP}",
                 "data.val_size=null", "data.val.fraction=0.34", f"data.cache_dir={tmp_path / 'c'}"]
    result = run_script("tools.warm_prefill_cache", ["--config", str(CPU_BUDGET), "--jobs", "2", *overrides], monkeypatch, capsys)
    assert result.returncode == 0, result.stderr
    assert len(cache_files(tmp_path / "c")) == 2 * 2 + 1, "2 training photos x 2 damages + 1 validation photo"
    splits = build_datasets(load_config(CPU_BUDGET, overrides).data, seed=0)
    forbid_computing(monkeypatch)
    for epoch in range(4):
        splits.train[(epoch, 0)], splits.train[(epoch, 1)]
    splits.val[0]
