"""Predict whole images with a generator and package them as a competition submission.

Shared by the trainer (test split after each epoch) and `infer.py`.
"""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from data.io import write_rgb_png
from metrics.torch_score import to_uint8
from utils.atomic import atomic_write
from utils.errors import ChromaFillError


@torch.no_grad()
def generate(generator: nn.Module, gray: torch.Tensor, mask: torch.Tensor, tta: bool = False) -> torch.Tensor:
    """Generator output in fp32; with `tta`, the mean with the prediction of the mirrored input."""
    out = generator(gray, mask).float()
    if tta:
        flipped = generator(gray.flip(-1), mask.flip(-1)).float().flip(-1)
        out = (out + flipped) / 2
    return out


def single_image_loader(dataset: Dataset, num_workers: int = 0) -> DataLoader:
    """Images of different sizes: one per batch, in dataset order."""
    return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=num_workers, collate_fn=_collate_one)


def _collate_one(items: list[dict[str, Any]]) -> dict[str, Any]:
    item = items[0]
    return {k: (v.unsqueeze(0) if isinstance(v, torch.Tensor) else v) for k, v in item.items()}


def predict_to_folder(
    generator: nn.Module,
    batches: Iterable[dict[str, Any]],
    out_dir: Path,
    device: torch.device,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    tta: bool = False,
) -> list[str]:
    """Write one RGB PNG per input, named exactly as the input; returns the names written."""
    generator.eval()
    names: list[str] = []
    for batch in batches:
        gray = batch["input"].to(device)
        mask = batch["mask"].to(device)
        with autocast():
            rgb = generate(generator, gray, mask, tta)
        batch_names = [batch["name"]] if isinstance(batch["name"], str) else list(batch["name"])
        for name, image in zip(batch_names, to_uint8(rgb)):
            write_rgb_png(out_dir / name, image)
            names.append(name)
    return names


def write_submission_zip(folder: Path, names: list[str], zip_path: Path) -> None:
    """A flat zip of exactly `names` from `folder` (stale files in the folder are not included)."""
    if len(set(names)) != len(names):
        raise ChromaFillError(f"{zip_path}: two predictions share a file name; the zip must be flat")

    def write(handle: Any) -> None:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
            for name in names:
                archive.write(folder / name, arcname=Path(name).name)

    atomic_write(zip_path, write)
