"""Loading speed: images/s of 512x512 DACON-layout pairs with the default augmentation.

Usage: python benchmarks/bench_data.py [--pairs 64] [--batch 16] [--epochs 3] [--workers 0 1 2]
Generates a temporary DACON-layout dataset, builds it through data.build like a training run
(default config: crop 256, flip, Telea pre-fill), and times whole epochs after a warm-up epoch
(which also starts the persistent workers).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.build import build_datasets, build_loader  # noqa: E402
from data.config import DataConfig, DamageConfig, ValConfig  # noqa: E402
from data.synthetic import write_dacon_dataset  # noqa: E402


def images_per_second(cfg: DataConfig, workers: int, batch: int, epochs: int) -> float:
    train = build_datasets(cfg, seed=0).train
    loader = build_loader(train, batch, shuffle=True, num_workers=workers, seed=0, drop_last=False)
    count = 0
    for epoch in range(epochs + 1):
        if epoch == 1:
            start, count = time.perf_counter(), 0
        loader.sampler.set_epoch(epoch)
        for batch_ in loader:
            count += batch_["input"].shape[0]
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--resynth", type=float, default=0.0, help="data.resynth_prob")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_dacon_dataset(Path(tmp), args.pairs, 512, np.random.default_rng(0), DamageConfig())
        cfg = DataConfig(root=tmp, val=ValConfig(fraction=0.0), resynth_prob=args.resynth)
        print(f"{args.pairs} pairs 512x512, crop {cfg.crop_size}, prefill {cfg.prefill}, hflip, batch {args.batch}, resynth {args.resynth}")
        for workers in args.workers:
            rate = images_per_second(cfg, workers, args.batch, args.epochs)
            print(f"workers={workers}: {rate:.1f} images/s")


if __name__ == "__main__":
    main()
