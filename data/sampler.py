"""A sampler whose order depends only on (seed, epoch), and that can start part-way into an epoch.

That is what exact resume needs: a run stopped after k batches of epoch e continues with batch
k+1 of the very order a straight run would have used. It also shards the order across ranks
the way DistributedSampler does (padding so every rank gets the same number of samples).
data/loader.py's EpochSampler wraps it (or any index sampler) to tag indices with the epoch.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch
from torch.utils.data import Sampler


class ResumableSampler(Sampler[int]):
    def __init__(self, length: int, seed: int, shuffle: bool = True, rank: int = 0, world_size: int = 1) -> None:
        self.length = length
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.skip = 0
        self.per_rank = math.ceil(length / world_size)

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Select the epoch's order and drop its first `skip` samples (of this rank)."""
        self.epoch = epoch
        self.skip = skip

    def _order(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.length, generator=generator).tolist()
        else:
            order = list(range(self.length))
        order += order[: self.per_rank * self.world_size - len(order)]
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self._order()[self.skip :])

    def __len__(self) -> int:
        return self.per_rank - self.skip
