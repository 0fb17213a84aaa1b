"""Finding and checking the files of a dataset before anything is trained.

Every problem is found up front and reported as ONE line naming the CSV row and the path, so a
broken dataset fails in seconds instead of hours into a run. Only headers are read (see
data/headers.py), which keeps the check of 2 x 29,603 DACON files to seconds.
"""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from data.headers import ImageInfo, image_info
from data.io import IMAGE_SUFFIXES
from utils.errors import ChromaFillError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairItem:
    """One training image: the colour target and, for DACON pairs, the damaged gray input."""

    name: str
    target: Path
    input: Path | None
    height: int
    width: int


@dataclass(frozen=True)
class CsvRow:
    number: int  # 1-based data row (the header is row 0)
    id: str
    values: dict[str, str]

    def where(self, csv_path: Path) -> str:
        return f"{csv_path} row {self.number}" + (f" (id {self.id})" if self.id else "")


def read_csv_rows(csv_path: Path, required: tuple[str, ...]) -> list[CsvRow]:
    """The data rows of a CSV, failing on a missing file, missing column, empty CSV or duplicate id."""
    if not csv_path.is_file():
        raise ChromaFillError(f"{csv_path}: CSV file not found")
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            records = [{(k or "").strip(): (v or "").strip() for k, v in rec.items()} for rec in reader]
    except (UnicodeDecodeError, csv.Error) as err:
        raise ChromaFillError(f"{csv_path}: not a readable CSV file ({err})") from None
    if not header:
        raise ChromaFillError(f"{csv_path}: the CSV is empty, expected a header with columns {', '.join(required)}")
    missing = [c for c in required if c not in header]
    if missing:
        raise ChromaFillError(f"{csv_path}: missing column {missing[0]!r} (columns found: {', '.join(header)})")
    if not records:
        raise ChromaFillError(f"{csv_path}: the CSV has a header but no rows")
    rows = [CsvRow(i, rec.get("id", ""), rec) for i, rec in enumerate(records, start=1)]
    seen: dict[str, int] = {}
    for row in rows:
        if row.id and row.id in seen:
            raise ChromaFillError(f"{row.where(csv_path)}: duplicate id, already used in row {seen[row.id]}")
        seen[row.id] = row.number
    return rows


def resolve_inside(root: Path, relative: str, where: str) -> Path:
    """`root/relative`, refusing empty paths and paths that leave `root` (../.., absolute paths)."""
    if not relative:
        raise ChromaFillError(f"{where}: empty path")
    joined = os.path.normpath(os.path.join(root, relative))
    base = os.path.normpath(root)
    if os.path.commonpath([joined, base]) != base:
        raise ChromaFillError(f"{where}: path {relative!r} points outside the dataset folder {root}")
    return Path(joined)


def checked_info(path: Path, where: str) -> ImageInfo:
    try:
        return image_info(path)
    except ChromaFillError as err:
        raise ChromaFillError(f"{where}: {err}") from None


def dacon_train_items(root: Path) -> list[PairItem]:
    """Every row of root/train.csv as a PairItem, after checking both files of every row."""
    csv_path = root / "train.csv"
    items = []
    for row in read_csv_rows(csv_path, ("input_image_path", "gt_image_path")):
        where = row.where(csv_path)
        inp = resolve_inside(root, row.values["input_image_path"], where)
        gt = resolve_inside(root, row.values["gt_image_path"], where)
        a, b = checked_info(inp, where), checked_info(gt, where)
        if (a.height, a.width) != (b.height, b.width):
            raise ChromaFillError(
                f"{where}: size mismatch: input {inp} is {a.width}x{a.height}, ground truth {gt} is {b.width}x{b.height}"
            )
        items.append(PairItem(inp.name, gt, inp, b.height, b.width))
    return items


def list_images(folder: Path, recursive: bool) -> list[Path]:
    """Image files (by suffix) in `folder`, sorted; hidden files and folders (caches) are skipped."""
    pattern = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(
        p
        for p in pattern
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def photo_items(root: Path) -> list[PairItem]:
    """Colour photos under `root` (recursive); gray ones are reported once and skipped."""
    files = list_images(root, recursive=True)
    if not files:
        raise ChromaFillError(f"{root}: no images found (looked recursively for {', '.join(IMAGE_SUFFIXES)})")
    items, gray = [], []
    for path in files:
        info = image_info(path)
        if info.channels < 3 or _looks_gray(path):
            gray.append(path)
            continue
        items.append(PairItem(path.name, path, None, info.height, info.width))
    if gray:
        log.warning(
            "%s: skipped %d gray photo(s) that cannot serve as colour targets (first: %s)", root, len(gray), gray[0].relative_to(root)
        )
    if not items:
        raise ChromaFillError(f"{root}: all {len(files)} images are gray; the photos format needs colour photos")
    return items


def _looks_gray(path: Path) -> bool:
    """True when a 3-channel file holds a gray picture (channels equal up to compression noise)."""
    image = cv2.imread(str(path), cv2.IMREAD_REDUCED_COLOR_2)
    if image is None:
        raise ChromaFillError(f"{path}: not a readable image (corrupt, truncated or unsupported format)")
    spread = image.max(axis=2).astype(np.int16) - image.min(axis=2)
    return float(np.percentile(spread, 99)) <= 2.0
