"""Batches of equal-size images, for whole-image passes over folders that mix sizes.

Validation and prediction run on whole images, and a photo folder (CamVid 480x360 beside
BSDS500 481x321, phone photos in two orientations) cannot be stacked into one tensor. Grouping
by size keeps every image at its own size, with no resize or crop, and still batches the common case.
"""

from __future__ import annotations

from typing import Sequence


def same_size_batches(sizes: Sequence[tuple[int, int]], batch_size: int) -> list[list[int]]:
    """Index batches of at most `batch_size`, each of one (H, W); sizes in order of first
    appearance and indices in dataset order, so the batches are the same on every run."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    groups: dict[tuple[int, int], list[int]] = {}
    for index, size in enumerate(sizes):
        groups.setdefault(tuple(size), []).append(index)
    return [group[start:start + batch_size] for group in groups.values() for start in range(0, len(group), batch_size)]
