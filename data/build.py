"""From the `data:` config to datasets: find and check the files, split, wrap.

Everything that can be wrong with the data is found here, before a model is built: unreadable or
missing files, size mismatches, bad CSVs, images smaller than the crop.

Validation images come from a split of the training folder or, with `data.val.root`, from a
folder of their own. They are whole images (no random crop, no flip), scored at their own size (the
trainer batches equal sizes together, so photo folders of mixed sizes work as they are). With
`data.val_size` they are centre-cropped to that square instead (padded when `data.pad_if_smaller`).
The group-split cache and the slow pre-fills' cache (data/prefill_cache.py) live in
`data.cache_dir`, or `<root>/.chromafill_cache/` by default.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from data.augment import too_small_message
from data.config import DataConfig
from data.datasets import PairDataset, PairOptions
from data.grouping import image_groups
from data.inference_set import InferenceDataset
from data.loader import build_loader, build_whole_image_loader  # noqa: F401  (re-exported for the trainer)
from data.sources import PairItem, dacon_train_items, photo_items
from data.skimage_samples import ensure_samples
from data.splits import split_indices
from utils.errors import ChromaFillError

log = logging.getLogger(__name__)


@dataclass
class DataSplits:
    train: Dataset
    val: Dataset | None
    test: Dataset | None


def build_datasets(cfg: DataConfig, seed: int, write_cache: bool = True) -> DataSplits:
    """Training, validation and test datasets of `cfg`, after checking every file.

    `write_cache=False` only reads the group-split cache: under torchrun one rank writes it.
    """
    root = Path(cfg.root)
    if cfg.val.root and not Path(cfg.val.root).is_dir():  # before the (slower) check of the training files
        raise ChromaFillError(f"data.val.root: got {cfg.val.root!r}, expected an existing folder of validation images")
    if cfg.format == "samples":
        return _sample_splits(cfg, seed, write_cache)
    if not cfg.root or not root.is_dir():
        raise ChromaFillError(f"data.root: got {cfg.root!r}, expected an existing folder")
    if cfg.format == "dacon":
        items = dacon_train_items(root)
        test_csv = root / "test.csv"
        test = InferenceDataset(test_csv, prefill=cfg.prefill, prefill_cache=_cache_dir(cfg, root)) if test_csv.is_file() else None
    else:
        items = photo_items(root)
        test = _photo_test(cfg, root)
    return _splits(cfg, seed, root, items, test, write_cache)


def _sample_splits(cfg: DataConfig, seed: int, write_cache: bool) -> DataSplits:
    """scikit-image's sample photos: train/val from root/photos, the held-out damaged ones as test."""
    if not cfg.root:
        raise ChromaFillError("data.root: got '', expected the folder to write the sample photos to (e.g. checkpoints/skimage_samples)")
    if cfg.test_dir:
        raise ChromaFillError(f"data.test_dir: got {cfg.test_dir!r}, expected '' with data.format=samples (it brings its own test split)")
    photos, test_dir = ensure_samples(Path(cfg.root), cfg.damage)
    test = InferenceDataset(test_dir, prefill=cfg.prefill, prefill_cache=_cache_dir(cfg, photos))
    return _splits(cfg, seed, photos, photo_items(photos), test, write_cache)


def _splits(cfg: DataConfig, seed: int, root: Path, items: list[PairItem], test: Dataset | None,
            write_cache: bool) -> DataSplits:
    if cfg.val.root:
        train_items, val_items = items, _val_folder_items(cfg.val.root)
    else:
        train_items, val_items = _split_items(cfg, seed, root, items, write_cache)
    options = PairOptions(
        crop_size=cfg.crop_size,
        augment=cfg.augment,
        damage=cfg.damage,
        prefill=cfg.prefill,
        prefill_damages=cfg.prefill_damages,
        prefill_cache=str(_cache_dir(cfg, root)),
        resynth_prob=cfg.resynth_prob,
        pad_if_smaller=cfg.pad_if_smaller,
        val_size=cfg.val_size,
    )
    _check_sizes(train_items, "data.crop_size", cfg.crop_size, cfg.pad_if_smaller)
    _check_sizes(val_items, "data.val_size", cfg.val_size, cfg.pad_if_smaller)
    train = PairDataset(train_items, options, seed, train=True)
    val = PairDataset(val_items, options, seed, train=False) if val_items else None
    log.info("data: %d training, %d validation, %d test images", len(train), len(val_items), len(test) if test else 0)
    return DataSplits(train=train, val=val, test=test)


def _split_items(cfg: DataConfig, seed: int, root: Path, items: list[PairItem],
                 write_cache: bool) -> tuple[list[PairItem], list[PairItem]]:
    """(training, validation) items: a hold-out fraction or a fold of the training folder."""
    groups = None
    if cfg.val.group:
        groups = image_groups([item.target for item in items], cfg.val.group_threshold, _cache_dir(cfg, root), write_cache)
    train_idx, val_idx = split_indices(len(items), cfg.val, seed, groups)
    return [items[i] for i in train_idx], [items[i] for i in val_idx]


def _val_folder_items(folder: str) -> list[PairItem]:
    """data.val.root: a DACON-layout folder (its train.csv pairs) or a folder of colour photos.

    A separate folder (e.g. held-out photos of other places) keeps near-duplicates of training
    images out of validation, and can be as large as the score's noise needs (see val/score_sem).
    """
    path = Path(folder)
    return dacon_train_items(path) if (path / "train.csv").is_file() else photo_items(path)


def _cache_dir(cfg: DataConfig, root: Path) -> Path:
    return Path(cfg.cache_dir) if cfg.cache_dir else root / ".chromafill_cache"


def _photo_test(cfg: DataConfig, root: Path) -> InferenceDataset | None:
    if not cfg.test_dir:
        return None
    if not Path(cfg.test_dir).is_dir():
        raise ChromaFillError(f"data.test_dir: got {cfg.test_dir!r}, expected an existing folder")
    return InferenceDataset(cfg.test_dir, prefill=cfg.prefill, prefill_cache=_cache_dir(cfg, root))


def _check_sizes(items: list[PairItem], key: str, size: int | None, pad: bool) -> None:
    """Fail before training on the first image smaller than `size` (unless padding is on)."""
    if pad or size is None:
        return
    for item in items:
        if item.height < size or item.width < size:
            raise ChromaFillError(too_small_message(str(item.target), item.height, item.width, size, key))


__all__ = ["DataSplits", "build_datasets", "build_loader", "build_whole_image_loader"]
