"""Predict whole images with a generator and package them as a competition submission.

Shared by the trainer (test split after each epoch) and `infer.py`.
"""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from data.datasets import to_tensor_gray
from data.inference_set import InferenceDataset
from data.io import write_rgb_png
from metrics.torch_score import to_uint8
from models.heads import gray_snap
from utils.atomic import atomic_write
from utils.errors import ChromaFillError


@torch.no_grad()
def generate(generator: nn.Module, gray: torch.Tensor, mask: torch.Tensor, tta: bool = False) -> torch.Tensor:
    """Generator output in fp32; with `tta`, the mean with the prediction of the mirrored input, snapped again.

    In eval mode the generator gray-snaps each pass (`gray_snap`: saturation below it -> exactly
    gray). A pixel snapped in one pass and not in the other would average to half the other's
    tint, the faint tint the snap exists to remove, so the mean is snapped with the same
    threshold; a pixel gray in both passes stays exactly gray, and the luminance is kept.
    """
    out = generator(gray, mask).float()
    if tta:
        flipped = generator(gray.flip(-1), mask.flip(-1)).float().flip(-1)
        out = (out + flipped) / 2
        if not generator.training:
            out = gray_snap(out, getattr(generator, "gray_snap", 0.0))
    return out


class MaskNetPredictor:
    """The learned mask net as the test set's mask predictor: damaged gray (HxW uint8) -> HxW bool.

    Lost where the net's probability exceeds 0.5 (logit > 0). Runs in the caller's thread (infer.py
    reads inputs in a background thread), in eval mode: see `eval_mode`.
    """

    def __init__(self, net: nn.Module, device: torch.device,
                 autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> None:
        self.net, self.device, self.autocast = net, device, autocast
        self.calls = 0

    @torch.no_grad()
    def __call__(self, gray: np.ndarray) -> np.ndarray:
        self.calls += 1
        with self.autocast():
            logits = self.net(to_tensor_gray(gray)[None].to(self.device)).float()
        return (logits[0, 0] > 0).cpu().numpy()


@contextlib.contextmanager
def eval_mode(*nets: nn.Module | None) -> Iterator[None]:
    """Eval mode for the duration (BatchNorm on running statistics, no dropout), then each net's mode back."""
    modes = [(net, net.training) for net in nets if net is not None]
    for net, _ in modes:
        net.eval()
    try:
        yield
    finally:
        for net, training in modes:
            net.train(training)


def predict_split(
    generator: nn.Module,
    mask_net: nn.Module | None,
    dataset: InferenceDataset,
    out_dir: Path,
    device: torch.device,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    mask_source: str = "auto",
) -> list[str]:
    """Predict every image of an inference dataset one by one (any mix of sizes), masks from `mask_source`.

    What the trainer runs on the test split after an epoch; infer.py makes the same mask choice
    (`InferenceDataset.with_mask_source`). `mask_net` may be None (no learned mask net).
    """
    predictor = None if mask_net is None else MaskNetPredictor(mask_net, device, autocast)
    data = dataset.with_mask_source(mask_source, predictor)
    with eval_mode(generator, mask_net):
        return predict_to_folder(generator, single_image_loader(data), out_dir, device, autocast)


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
