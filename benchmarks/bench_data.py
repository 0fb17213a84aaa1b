"""Loading speed: training samples/s of the data pipeline, against what a training step consumes.

Usage:
    python benchmarks/bench_data.py [--pairs 64] [--batch 16] [--epochs 3] [--workers 0 1 2]
    python benchmarks/bench_data.py --prefills none telea ns fsr_fast shiftmap [--photos DIR] [--count 40]
        [--config configs/cpu_budget.yaml] [--batch 8] [--workers 1] [--step-seconds 0.90]

Default mode: a temporary DACON-layout dataset of 512x512 pairs built through data.build like a
training run (default config: crop 256, flip, Telea pre-fill); whole epochs are timed after a
warm-up epoch (which also starts the persistent workers).

--prefills mode: one row per pre-fill, the training pipeline of --config's data section (for
cpu_budget.yaml: a photo folder, crop 128 from a random 0.5x-1x rescale, flip) with data.prefill
set to each method, in a DataLoader with --workers workers and batches of --batch, on --count
photos of --photos (default: generated 480x360 photos, CamVid's size). Fast pre-fills run on each
crop: one timed epoch after a warm-up. Slow ones (fsr_fast, fsr_best, shiftmap) fill whole photos
through the disk cache (data/prefill_cache.py): `cold` is epoch 0 on an empty cache (every
(photo, damage) filled once: the first data.prefill_damages epochs of a run, unless the cache
was warmed with tools/warm_prefill_cache.py), `warm` the epoch that reuses damage 0 (every later
epoch). --step-seconds is the training step the loader must keep ahead of (default 0.90 s: the
cpu_budget.yaml run's 1,340 steps of batch 8 in 20 minutes on the 2-core CPU, README Quality),
so the rows print the share of a step the loader needs per batch.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.build import build_datasets, build_loader  # noqa: E402
from data.config import DataConfig, DamageConfig, ValConfig  # noqa: E402
from data.prefill import PREFILL_METHODS, SLOW_PREFILLS  # noqa: E402
from data.synthetic import natural_image, write_dacon_dataset  # noqa: E402
from trainers.config import load_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def timed_epochs(cfg: DataConfig, workers: int, batch: int, epochs: list[int]) -> list[float]:
    """Samples/s of each epoch in `epochs`, in order, through one loader (persistent workers)."""
    train = build_datasets(cfg, seed=0).train
    loader = build_loader(train, batch, shuffle=True, num_workers=workers, seed=0, drop_last=False)
    rates = []
    for epoch in epochs:
        loader.sampler.set_epoch(epoch)
        start, count = time.perf_counter(), 0
        for batch_ in loader:
            count += batch_["input"].shape[0]
        rates.append(count / (time.perf_counter() - start))
    return rates


def pairs_mode(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_dacon_dataset(Path(tmp), args.pairs, 512, np.random.default_rng(0), DamageConfig())
        cfg = DataConfig(root=tmp, val=ValConfig(fraction=0.0), resynth_prob=args.resynth)
        print(f"{args.pairs} pairs 512x512, crop {cfg.crop_size}, prefill {cfg.prefill}, hflip, batch {args.batch}, resynth {args.resynth}")
        for workers in args.workers:
            rates = timed_epochs(cfg, workers, args.batch, list(range(args.epochs + 1)))[1:]
            print(f"workers={workers}: {len(rates) * sum(1 / r for r in rates) ** -1:.1f} images/s")


def photo_folder(args: argparse.Namespace, tmp: Path) -> Path:
    """--count photos of --photos, linked into one folder; or generated 480x360 ones."""
    folder = tmp / "photos"
    folder.mkdir()
    if args.photos is not None:
        files = sorted(p for p in args.photos.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[: args.count]
        for path in files:
            (folder / path.name).symlink_to(path.resolve())
        return folder
    rng = np.random.default_rng(0)
    for i in range(args.count):
        cv2.imwrite(str(folder / f"photo{i:03d}.png"), natural_image(360, 480, rng)[:, :, ::-1])
    return folder


def prefills_mode(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        photos = photo_folder(args, Path(tmp))
        base = load_config(args.config).data
        print(f"{args.count} photos ({args.photos or 'generated 480x360'}), data section of {args.config.name}: crop "
              f"{base.crop_size}, rescale {base.augment.scale_min}-{base.augment.scale_max}, hflip {base.augment.hflip}; "
              f"batch {args.batch}, workers {args.workers[0]}; a step of {args.step_seconds:.2f} s takes "
              f"{args.batch / args.step_seconds:.1f} samples/s")
        print(f"{'prefill':<9} {'epoch':<5} {'samples/s':>9} {'loader s/batch':>14} {'x step':>6}")
        for method in args.prefills:
            cfg = load_config(args.config, [f"data.root={photos}", f"data.prefill={method}", "data.val.fraction=0",
                                            f"data.cache_dir={Path(tmp) / ('cache_' + method)}"]).data
            if method in SLOW_PREFILLS:
                labels, epochs = ["cold", "warm"], [0, cfg.prefill_damages]
            else:
                labels, epochs = ["warm-up", "timed"], [0, 1]
            for label, rate in zip(labels, timed_epochs(cfg, args.workers[0], args.batch, epochs)):
                if label == "warm-up":
                    continue
                per_batch = args.batch / rate
                print(f"{method:<9} {label:<5} {rate:9.1f} {per_batch:14.3f} {per_batch / args.step_seconds:6.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--batch", type=int, default=None, help="default: 16, or 8 with --prefills")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=None, help="default: 0 1 2, or 1 with --prefills")
    parser.add_argument("--resynth", type=float, default=0.0, help="data.resynth_prob")
    parser.add_argument("--prefills", nargs="+", choices=PREFILL_METHODS, help="time the training pipeline per pre-fill")
    parser.add_argument("--photos", type=Path, help="--prefills: a folder of photos (default: generated ones)")
    parser.add_argument("--count", type=int, default=40, help="--prefills: number of photos")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "cpu_budget.yaml", help="--prefills: whose data section")
    parser.add_argument("--step-seconds", type=float, default=0.90, help="--prefills: the training step to compare with")
    args = parser.parse_args()
    if args.prefills:
        args.batch, args.workers = args.batch or 8, args.workers or [1]
        prefills_mode(args)
    else:
        args.batch, args.workers = args.batch or 16, args.workers or [0, 1, 2]
        pairs_mode(args)


if __name__ == "__main__":
    main()
