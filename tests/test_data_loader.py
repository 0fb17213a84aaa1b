"""Loaders reproduce from the seed, whatever the worker count, and differ between epochs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from data.build import build_datasets, build_loader
from data.config import DamageConfig, DataConfig, ValConfig
from data.synthetic import write_dacon_dataset


@pytest.fixture(scope="module")
def train(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("dacon")
    write_dacon_dataset(root, 8, 64, np.random.default_rng(0), DamageConfig())
    cfg = DataConfig(root=str(root), crop_size=32, val=ValConfig(fraction=0.0), resynth_prob=0.5)
    return build_datasets(cfg, seed=0).train


def epochs(loader, count: int) -> list[list[torch.Tensor]]:
    out = []
    for e in range(count):
        loader.sampler.set_epoch(e)
        out.append([torch.cat([b["input"], b["mask"]], 1) for b in loader])
    return out


def test_same_batches_with_0_and_2_workers_and_new_ones_each_epoch(train) -> None:
    a = epochs(build_loader(train, 4, shuffle=True, num_workers=0, seed=5, drop_last=False), 2)
    b = epochs(build_loader(train, 4, shuffle=True, num_workers=2, seed=5, drop_last=False), 2)
    for ea, eb in zip(a, b):
        assert all(torch.equal(x, y) for x, y in zip(ea, eb))
    assert not torch.equal(a[0][0], a[1][0]), "each epoch has its own order and augmentation"
    c = epochs(build_loader(train, 4, shuffle=True, num_workers=0, seed=6, drop_last=False), 1)
    assert not all(torch.equal(x, y) for x, y in zip(a[0], c[0]))


def test_resumed_epoch_equals_the_straight_run(train) -> None:
    straight = epochs(build_loader(train, 4, shuffle=True, num_workers=0, seed=1, drop_last=True), 3)[2]
    loader = build_loader(train, 4, shuffle=True, num_workers=0, seed=1, drop_last=True)
    loader.sampler.set_epoch(2)
    assert all(torch.equal(torch.cat([b["input"], b["mask"]], 1), s) for b, s in zip(loader, straight))


class RecordingSampler(torch.utils.data.Sampler):
    def __init__(self, n: int) -> None:
        self.n, self.calls, self.epoch = n, [], 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.calls.append((epoch, skip))
        self.epoch = epoch

    def __iter__(self):
        return iter(range(self.n - 1, -1, -1))

    def __len__(self) -> int:
        return self.n


def test_external_sampler_gets_set_epoch_and_decides_the_order(train) -> None:
    inner = RecordingSampler(len(train))
    loader = build_loader(train, 2, shuffle=False, num_workers=0, seed=0, drop_last=False, sampler=inner)
    loader.sampler.set_epoch(3, skip=1)
    assert inner.calls == [(3, 1)]
    names = [n for b in loader for n in b["name"]]
    assert names == [train.items[i].name for i in range(len(train) - 1, -1, -1)]


def test_plain_datasets_get_plain_indices(train) -> None:
    subset = Subset(train, [0, 2])
    batch = next(iter(build_loader(subset, 2, shuffle=False, num_workers=0, seed=0, drop_last=False)))
    assert batch["name"] == [train.items[0].name, train.items[2].name]
    assert batch["input"].shape == (2, 1, 32, 32) and batch["target"].shape == (2, 3, 32, 32)


def test_epoch_set_on_the_wrapped_sampler_reaches_the_augmentation(train) -> None:
    inner = RecordingSampler(len(train))
    loader = build_loader(train, 8, shuffle=False, num_workers=0, seed=0, drop_last=False, sampler=inner)
    inner.set_epoch(0)
    first = next(iter(loader))["mask"]
    inner.set_epoch(1)  # the trainer may call set_epoch on its own sampler, not on loader.sampler
    assert not torch.equal(first, next(iter(loader))["mask"])
