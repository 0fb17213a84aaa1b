"""Validation after an epoch: the competition score on the held-out split, and a picture grid."""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterable

import numpy as np
import scipy.stats
import torch
import torch.nn.functional as F
from torch import nn

from metrics.competition import mean_scores
from metrics.torch_score import score_batch
from trainers.predict import generate

SCORE_KEYS = ("score", "ssim_full", "ssim_lost", "hist")


@torch.no_grad()
def validate(
    generator: nn.Module,
    batches: Iterable[dict[str, Any]],
    device: torch.device,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    max_images: int = 0,
    num_visuals: int = 0,
) -> tuple[dict[str, float], torch.Tensor | None]:
    """Mean score terms over the split (at most `max_images`), plus an image grid of the first samples.

    `score_sem` is the standard error of the mean score over the images (NaN with fewer than two):
    how far the score could move on another draw of validation photos, which is what a difference
    between two checkpoints must exceed before it means anything (trainers/selection.py).

    The grid has one row per sample: input | mask | prediction | target, as 3-channel images.
    Batches may differ in size (photo folders mix sizes): each is scored at its own size, and
    narrower samples are padded with black on the right in the grid.
    """
    generator.eval()
    rows: list[dict[str, float]] = []
    visuals: list[list[torch.Tensor]] = []
    for batch in batches:
        gray = batch["input"].to(device)
        target = batch["target"].to(device)
        mask = batch["mask"].to(device)
        with autocast():
            pred = generate(generator, gray, mask)
        rows.extend(score_batch(pred, target, mask))
        if len(visuals) < num_visuals:
            visuals.extend(_visual_rows(gray, mask, pred, target)[: num_visuals - len(visuals)])
        if max_images and len(rows) >= max_images:
            rows = rows[:max_images]
            break
    means = mean_scores(rows, SCORE_KEYS)
    if means:
        means["score_sem"] = standard_error([row["score"] for row in rows])
    return means, _grid(visuals) if visuals else None


def standard_error(values: list[float]) -> float:
    """Standard error of the mean of the finite values (sample standard deviation / sqrt(n))."""
    finite = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if len(finite) < 2:
        return math.nan
    return float(scipy.stats.sem(finite, ddof=1))


def _visual_rows(gray: torch.Tensor, mask: torch.Tensor, pred: torch.Tensor, target: torch.Tensor) -> list[list[torch.Tensor]]:
    """Per sample of the batch: its four 3xHxW panels, on the CPU in fp32."""
    rgb = lambda t: t.expand(-1, 3, -1, -1).float().cpu()  # noqa: E731
    panels = [rgb(gray), rgb(mask), pred.clamp(0, 1).float().cpu(), target.float().cpu()]
    return [[panel[i] for panel in panels] for i in range(gray.shape[0])]


def _grid(rows: list[list[torch.Tensor]]) -> torch.Tensor:
    """3 x (sum of heights) x (4 * widest width): every panel padded to the widest, so the four
    columns line up (samples.png cuts the grid into columns of equal width)."""
    width = max(panel.shape[-1] for row in rows for panel in row)
    padded = [torch.cat([F.pad(panel, (0, width - panel.shape[-1])) for panel in row], dim=2) for row in rows]
    return torch.cat(padded, dim=1)
