"""Splits are deterministic, partition the data, and keep groups of near-duplicates together."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from data.config import ValConfig
from data.grouping import cached_thumbnails, group_labels, image_groups
from data.splits import split_indices
from data.synthetic import natural_image
from utils.errors import ChromaFillError


def test_holdout_is_deterministic_and_disjoint() -> None:
    cfg = ValConfig(fraction=0.2)
    a = split_indices(50, cfg, seed=3)
    b = split_indices(50, cfg, seed=3)
    c = split_indices(50, cfg, seed=4)
    assert np.array_equal(a[1], b[1]) and not np.array_equal(a[1], c[1])
    train, val = a
    assert len(val) == 10 and not set(train) & set(val) and len(train) + len(val) == 50
    assert len(split_indices(50, ValConfig(fraction=0.0), seed=0)[1]) == 0


def test_kfold_partitions_the_data() -> None:
    folds = [split_indices(23, ValConfig(folds=5, fold=k), seed=7)[1] for k in range(5)]
    together = np.concatenate(folds)
    assert sorted(together.tolist()) == list(range(23))
    assert {len(f) for f in folds} <= {4, 5}
    assert np.array_equal(folds[2], split_indices(23, ValConfig(folds=5, fold=2), seed=7)[1])


def test_groups_stay_on_one_side() -> None:
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 12, 80)
    for cfg in (ValConfig(fraction=0.25), ValConfig(folds=4, fold=1)):
        train, val = split_indices(80, cfg, seed=1, groups=groups)
        assert len(val) and not set(groups[train]) & set(groups[val])
    with pytest.raises(ChromaFillError, match="data.val.folds: got 5, but there are only 3"):
        split_indices(9, ValConfig(folds=5), seed=0, groups=np.repeat([0, 1, 2], 3))


def write_near_duplicates(folder: Path, places: int, shots: int, rng: np.random.Generator) -> list[Path]:
    """`shots` slightly different photos (shift, brightness, noise) of each of `places` scenes."""
    paths = []
    for place in range(places):
        scene = natural_image(140, 180, rng).astype(np.float32)
        for shot in range(shots):
            dx, dy = rng.integers(-3, 4, 2)
            moved = np.roll(scene, (int(dy), int(dx)), axis=(0, 1)) * rng.uniform(0.96, 1.04) + rng.normal(0, 3, scene.shape)
            path = folder / f"p{place:02d}_s{shot}.png"
            cv2.imwrite(str(path), np.clip(moved, 0, 255).astype(np.uint8)[:, :, ::-1])
            paths.append(path)
    return paths


def test_near_duplicates_are_grouped_and_never_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    paths = write_near_duplicates(tmp_path, places=8, shots=4, rng=rng)
    place = np.array([int(p.name[1:3]) for p in paths])
    labels = image_groups(paths, threshold=ValConfig().group_threshold, cache_dir=tmp_path / "cache")
    assert len(np.unique(labels)) == 8
    for g in np.unique(labels):
        assert len(set(place[labels == g])) == 1, "a group holds one place only"
    for seed in range(5):
        train, val = split_indices(len(paths), ValConfig(fraction=0.25), seed=seed, groups=labels)
        assert len(val) == 8 and not set(place[train]) & set(place[val])
    # A random split does leak places (what group mode prevents).
    train, val = split_indices(len(paths), ValConfig(fraction=0.25), seed=0)
    assert set(place[train]) & set(place[val])


def test_thumbnails_are_cached(tmp_path: Path) -> None:
    paths = write_near_duplicates(tmp_path, places=2, shots=2, rng=np.random.default_rng(3))
    first = cached_thumbnails(paths, tmp_path / "cache")
    files = list((tmp_path / "cache").glob("thumbs_*.npz"))
    assert len(files) == 1
    np.savez(files[0], features=first + 1000)  # a changed cache proves it is read back
    assert np.array_equal(cached_thumbnails(paths, tmp_path / "cache"), first + 1000)
    cv2.imwrite(str(paths[0]), np.zeros((10, 10, 3), np.uint8))  # file changed: new key
    assert not np.array_equal(cached_thumbnails(paths, tmp_path / "cache")[0], first[0] + 1000)


def test_group_labels_threshold() -> None:
    base = np.zeros((4, 192), np.float32)
    base[2:] += 100
    base[1] += 5
    assert group_labels(base, 10.0).tolist() == [0, 0, 1, 1]
    assert len(set(group_labels(base, 1.0).tolist())) == 3
