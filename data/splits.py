"""Train/validation splits: hold-out fraction or K-fold, optionally keeping groups together.

Splits are drawn from the experiment seed only, so the same seed always gives the same split
(and a resumed run validates on the same images). Without groups every image is its own group,
so one code path serves both modes: groups are shuffled, then dealt out.
"""

from __future__ import annotations

import numpy as np

from data.config import ValConfig
from utils.errors import ChromaFillError


def split_indices(n: int, cfg: ValConfig, seed: int, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices), sorted; images of one group land on one side."""
    groups = np.arange(n) if groups is None else np.asarray(groups)
    if len(groups) != n:
        raise ValueError(f"got {len(groups)} group labels for {n} images")
    ids, sizes = np.unique(groups, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(ids))
    if cfg.folds:
        val_groups = _kfold(ids[order], sizes[order], cfg.folds, cfg.fold)
    else:
        val_groups = _holdout(ids[order], sizes[order], max(1, round(cfg.fraction * n)) if cfg.fraction else 0)
    is_val = np.isin(groups, val_groups)
    train, val = np.nonzero(~is_val)[0], np.nonzero(is_val)[0]
    if not len(train):
        raise ChromaFillError(f"data.val: the split leaves no training images ({n} images, {len(ids)} groups)")
    return train, val


def _kfold(ids: np.ndarray, sizes: np.ndarray, folds: int, fold: int) -> np.ndarray:
    """Deal groups, largest first (shuffled order breaks ties), to the fold with fewest images."""
    if len(ids) < folds:
        raise ChromaFillError(f"data.val.folds: got {folds}, but there are only {len(ids)} images/groups to split")
    load = np.zeros(folds, dtype=np.int64)
    owner = np.empty(len(ids), dtype=np.int64)
    for i in np.argsort(-sizes, kind="stable"):
        owner[i] = int(np.argmin(load))
        load[owner[i]] += sizes[i]
    return ids[owner == fold]


def _holdout(ids: np.ndarray, sizes: np.ndarray, target: int) -> np.ndarray:
    """Shuffled groups, taken while they fit into `target` images (too-large groups stay in training)."""
    taken, total = [], 0
    for gid, size in zip(ids, sizes):
        if total >= target:
            break
        if total + size <= target:
            taken.append(gid)
            total += size
    return np.array(taken, dtype=ids.dtype)
