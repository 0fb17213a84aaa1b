"""Validation after an epoch: the competition score on the held-out split, and a picture grid."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable

import torch
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

    The grid has one row per sample: input | mask | prediction | target, as 3-channel images.
    """
    generator.eval()
    rows: list[dict[str, float]] = []
    visuals: list[torch.Tensor] = []
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
    grid = torch.cat(visuals, dim=1) if visuals else None  # 3 x (N*H) x (4*W)
    return means, grid


def _visual_rows(gray: torch.Tensor, mask: torch.Tensor, pred: torch.Tensor, target: torch.Tensor) -> list[torch.Tensor]:
    rgb = lambda t: t.expand(-1, 3, -1, -1)  # noqa: E731
    panels = torch.cat([rgb(gray), rgb(mask), pred.clamp(0, 1), target], dim=3).float().cpu()
    return list(panels)
