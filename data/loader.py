"""DataLoaders that reproduce: the same seed gives the same batches, every epoch different.

`EpochSampler` yields (epoch, index) pairs instead of plain indices (to datasets that declare
`epoch_keys = True`), so each sample's random
augmentation is seeded by (seed, epoch, index) inside the dataset (data/datasets.py). That holds
with any number of workers, and with persistent workers (which never see a `set_epoch` made in
the main process). It wraps any index sampler (e.g. a resumable or distributed one) and forwards
`set_epoch` to it; without one it shuffles with a generator seeded by (seed, epoch).
"""

from __future__ import annotations

import random
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class EpochSampler(Sampler):
    def __init__(self, length: int, shuffle: bool, seed: int, inner: Sampler | None = None, tag_epoch: bool = True) -> None:
        self.length = length
        self.tag_epoch = tag_epoch
        self.shuffle = shuffle
        self.seed = seed
        self.inner = inner
        self.epoch = 0

    def set_epoch(self, epoch: int, *args: Any, **kwargs: Any) -> None:
        """Select the epoch; extra arguments (e.g. a resume offset) go to the wrapped sampler."""
        self.epoch = epoch
        if self.inner is not None and hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch, *args, **kwargs)

    def _indices(self) -> Iterator[int]:
        if self.inner is not None:
            return iter(self.inner)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            return iter(torch.randperm(self.length, generator=generator).tolist())
        return iter(range(self.length))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        # A wrapped sampler may have been given its epoch directly (DistributedSampler and the
        # trainer's resumable sampler keep it in `.epoch`): that one wins.
        epoch = int(getattr(self.inner, "epoch", self.epoch)) if self.inner is not None else self.epoch
        if not self.tag_epoch:
            return (int(i) for i in self._indices())
        return ((epoch, int(i)) for i in self._indices())

    def __len__(self) -> int:
        return len(self.inner) if self.inner is not None else self.length  # type: ignore[arg-type]


def _seed_worker(worker_id: int) -> None:
    """Seed libraries that keep global state (nothing of ours does) from the loader's seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def build_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int,
    seed: int,
    drop_last: bool,
    sampler: Sampler | None = None,
) -> DataLoader:
    """A DataLoader with pinned memory on CUDA, persistent seeded workers and an EpochSampler.

    Call `loader.sampler.set_epoch(e)` before each epoch (forwarded to `sampler` when given).
    """
    # Datasets that do not understand (epoch, index) keys (e.g. a torch Subset) get plain indices.
    tag = bool(getattr(dataset, "epoch_keys", False))
    epoch_sampler = EpochSampler(len(dataset), shuffle, seed, inner=sampler, tag_epoch=tag)  # type: ignore[arg-type]
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=epoch_sampler,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
        drop_last=drop_last,
        persistent_workers=num_workers > 0,
        worker_init_fn=_seed_worker,
        generator=torch.Generator().manual_seed(seed),
        prefetch_factor=4 if num_workers > 0 else None,
    )
