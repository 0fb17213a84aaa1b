"""DataLoaders that reproduce: the same seed gives the same batches, every epoch different.

`EpochSampler` yields (epoch, index) pairs instead of plain indices (to datasets that declare
`epoch_keys = True`), so each sample's random augmentation is seeded by (seed, epoch, index)
inside the dataset (data/datasets.py). That holds with any number of workers, and with persistent
workers (which never see a `set_epoch` made in the main process). The order itself comes from
the index sampler it wraps: the trainer's resumable, sharded one (data/sampler.py), the
caller's, or by default a `ResumableSampler` of the dataset seeded by (seed, epoch).
"""

from __future__ import annotations

import random
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from data.sampler import ResumableSampler
from data.size_batches import same_size_batches


class EpochSampler(Sampler):
    def __init__(self, inner: Sampler, tag_epoch: bool = True) -> None:
        self.inner = inner
        self.tag_epoch = tag_epoch
        self.epoch = 0

    def set_epoch(self, epoch: int, *args: Any, **kwargs: Any) -> None:
        """Select the epoch; extra arguments (e.g. a resume offset) go to the wrapped sampler."""
        self.epoch = epoch
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch, *args, **kwargs)

    def __iter__(self) -> Iterator[tuple[int, int]] | Iterator[int]:
        # The wrapped sampler may have been given its epoch directly (DistributedSampler and the
        # trainer's resumable sampler keep it in `.epoch`): that one wins.
        epoch = int(getattr(self.inner, "epoch", self.epoch))
        if not self.tag_epoch:
            return (int(i) for i in self.inner)
        return ((epoch, int(i)) for i in self.inner)

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]


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

    `sampler` decides the order; without one, `shuffle` picks a (seed, epoch)-seeded permutation
    or the dataset order. Call `loader.sampler.set_epoch(e)` before each epoch.
    """
    # Datasets that do not understand (epoch, index) keys (e.g. a torch Subset) get plain indices.
    tag = bool(getattr(dataset, "epoch_keys", False))
    inner = sampler if sampler is not None else ResumableSampler(len(dataset), seed, shuffle)  # type: ignore[arg-type]
    epoch_sampler = EpochSampler(inner, tag_epoch=tag)
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


def build_whole_image_loader(dataset: Dataset, batch_size: int, sizes: Sequence[tuple[int, int]]) -> DataLoader:
    """Dataset order, batched by equal image size (`sizes[i]` is the (H, W) of item i), in the
    main process: validation reads few images, and worker start-up would cost more than it saves."""
    return DataLoader(dataset, batch_sampler=same_size_batches(sizes, batch_size), num_workers=0,
                      pin_memory=torch.cuda.is_available())
