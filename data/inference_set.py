"""Test-time samples: damaged gray inputs without ground truth, at full size.

The lost region is read from a mask file when one is given, else found as `mask_source` says:
the training-free detector (data/hole_detection.py), a learned mask predictor handed in by the
caller (the mask net; this layer never imports models), or `auto`: the detector, and where its
confidence is below `hole_detection.CONFIDENT` (no plausible constant-fill region, or two alike, such as a fill
of 0 beside a crushed shadow) the predictor decides among the detector's candidates
(`hole_detection.consult`). Then it is pre-filled like the training inputs. Every file is
checked when the dataset is built (headers only), so a bad file fails, or is skipped with a
warning, before any prediction is made.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from torch.utils.data import Dataset

from data.datasets import Key, make_sample, split_key
from data.headers import ImageInfo
from data.hole_detection import auto_mask, find_hole
from data.io import read_gray
from data.prefill import PREFILL_METHODS
from data.prefill_cache import make_filler
from data.sources import checked_info, list_images, read_csv_rows, resolve_inside
from utils.errors import ChromaFillError

log = logging.getLogger(__name__)

MASK_SOURCES = ("detector", "mask_net", "auto")
MaskPredictor = Callable[[np.ndarray], np.ndarray]  # damaged gray HxW uint8 -> lost region HxW bool


@dataclass(frozen=True)
class TestItem:
    name: str
    path: Path
    mask_path: Path | None
    where: str


class InferenceDataset(Dataset):
    """Samples `input`, `raw_input`, `mask` (1xHxW float), `name` and `orig_size` (H, W).

    source: a folder of images (not recursive) or a CSV with an `input_image_path` column
    (paths relative to the CSV's folder; an `id` column is optional).
    masks_dir: read `<masks_dir>/<name>` (PNG, 255 = lost) instead of detecting the hole.
    skip_bad: skip unreadable files with a warning instead of failing.
    mask_source / mask_predictor: where masks come from for images without a mask file (see the
    module docstring); `mask_net` needs a predictor, `auto` without one is the detector alone.
    prefill_cache: a folder for the disk cache of slow pre-fills (the trainer predicts its test
    split after every epoch; a cache entry is keyed by the input and its mask, see data/prefill_cache.py).
    """

    epoch_keys = True

    def __init__(self, source: str | Path, prefill: str = "telea", masks_dir: str | Path | None = None, skip_bad: bool = False,
                 mask_source: str = "detector", mask_predictor: MaskPredictor | None = None,
                 prefill_cache: str | Path | None = None) -> None:
        if prefill not in PREFILL_METHODS:
            raise ChromaFillError(f"prefill {prefill!r}: expected one of {', '.join(PREFILL_METHODS)}")
        self.prefill = prefill
        self.fill = make_filler(prefill, None if prefill_cache is None else Path(prefill_cache))
        self._set_mask_source(mask_source, mask_predictor)
        candidates = _list_source(Path(source), None if masks_dir is None else Path(masks_dir))
        self.items = []
        self.sizes: list[tuple[int, int]] = []  # from the headers read by the check, for batching
        for item in candidates:
            try:
                info = _check(item)
            except ChromaFillError as err:
                if not skip_bad:
                    raise
                log.warning("skipping %s", err)
                continue
            self.items.append(item)
            self.sizes.append((info.height, info.width))
        if not self.items:
            raise ChromaFillError(f"{source}: no usable test images")

    def __len__(self) -> int:
        return len(self.items)

    def with_mask_source(self, mask_source: str, mask_predictor: MaskPredictor | None) -> "InferenceDataset":
        """A copy of this dataset (same files, not re-checked) that finds masks as `mask_source` says."""
        view = copy.copy(self)
        view._set_mask_source(mask_source, mask_predictor)
        return view

    def _set_mask_source(self, mask_source: str, mask_predictor: MaskPredictor | None) -> None:
        if mask_source not in MASK_SOURCES:
            raise ChromaFillError(f"mask source {mask_source!r}: expected one of {', '.join(MASK_SOURCES)}")
        if mask_source == "mask_net" and mask_predictor is None:
            raise ChromaFillError("mask source 'mask_net': the model has no mask net (model.mask_net.enabled was false); "
                                  "use the detector or auto")
        self.mask_source = mask_source
        self.mask_predictor = mask_predictor

    def find_hole(self, gray: np.ndarray) -> np.ndarray:
        """The lost region of `gray` (HxW uint8) as HxW bool, from the mask source."""
        if self.mask_source == "mask_net":
            return self.mask_predictor(gray)
        return auto_mask(find_hole(gray), gray, self.mask_predictor if self.mask_source == "auto" else None)

    def image_size(self, index: int) -> tuple[int, int]:
        """(H, W) of item `index` from its header, so callers can batch same-size images cheaply."""
        return self.sizes[index]

    def __getitem__(self, key: Key) -> dict:
        item = self.items[split_key(key)[1]]
        gray = read_gray(item.path)
        mask = self.find_hole(gray) if item.mask_path is None else _read_mask(item.mask_path, gray.shape)
        sample = make_sample(gray, None, mask, item.name, self.fill(gray, mask))
        sample["orig_size"] = (int(gray.shape[0]), int(gray.shape[1]))
        return sample


def _list_source(source: Path, masks_dir: Path | None) -> list[TestItem]:
    def mask_for(name: str) -> Path | None:
        return None if masks_dir is None else masks_dir / name

    if source.is_dir():
        files = list_images(source, recursive=False)
        if not files:
            raise ChromaFillError(f"{source}: no images found in the folder")
        return [TestItem(p.name, p, mask_for(p.name), str(p)) for p in files]
    if source.suffix.lower() == ".csv":
        items, names = [], {}
        for row in read_csv_rows(source, ("input_image_path",)):
            where = row.where(source)
            path = resolve_inside(source.parent, row.values["input_image_path"], where)
            if path.name in names:
                raise ChromaFillError(f"{where}: file name {path.name!r} already used in row {names[path.name]}; predictions would overwrite each other")
            names[path.name] = row.number
            items.append(TestItem(path.name, path, mask_for(path.name), where))
        return items
    raise ChromaFillError(f"{source}: expected a folder of images or a .csv file with an input_image_path column")


def _check(item: TestItem) -> ImageInfo:
    """The image's header info, after checking it (and its mask's size, when given)."""
    info = checked_info(item.path, item.where)
    if item.mask_path is not None:
        mask = checked_info(item.mask_path, f"{item.where}: mask")
        if (mask.height, mask.width) != (info.height, info.width):
            raise ChromaFillError(
                f"{item.where}: mask {item.mask_path} is {mask.width}x{mask.height}, its image {item.path} is {info.width}x{info.height}"
            )
    return info


def _read_mask(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    mask = read_gray(path)
    if mask.shape != shape:
        raise ChromaFillError(f"{path}: mask size {mask.shape[::-1]} differs from its image {shape[::-1]}")
    return mask > 127


