"""How long the web app's Restore takes on the CPU: trainers/restore_service.restore on one photo.

    python benchmarks/bench_restore.py [--checkpoint bundled|PATH] [--config configs/cpu_budget.yaml]
        [--sizes 512 1024 2048] [--reps 3] [--threads N]

The model is --checkpoint (default: the bundled weights/chromafill.pt); when that file is absent,
a model of --config's architecture with random weights converted by the bundled model's own code
(the time depends on the architecture, not on the weights). Each size is a square crop of
scikit-image's chelsea resized to SIZE x SIZE with seeded DACON-style damage; the restore is the
page's: pre-fill, generator with chroma-bin logits, the entropy map, and above
restore_service.MODEL_MAX_SIDE the downscale and full-resolution luma composite. Prints the median
and best of --reps timed calls after one warm-up, and the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (puts the repository root on sys.path)
import cv2
import torch

from data.skimage_samples import _loader
from trainers.bundled import resolve_model
from trainers.restore_service import MODEL_MAX_SIDE, load_restorer, restore, seeded_damage


def random_model(config: Path, folder: Path) -> Path:
    """A bundled file of `config`'s generator with random weights (the conversion code of the real one)."""
    from models.build import build_generator
    from trainers.bundled import make_bundled_model
    from trainers.checkpoint import save_checkpoint
    from trainers.config import load_config
    from utils import config as cfgio

    loaded = load_config(config)
    torch.manual_seed(0)
    state = build_generator(loaded.model).state_dict()
    save_checkpoint(folder / "run" / "best.pt", {"config": cfgio.to_dict(loaded), "epoch": 0, "global_step": 0, "scores": {},
                                                 "trainer": {"generator": state, "ema": None, "mask_net": None, "discriminator": None}})
    return make_bundled_model(folder / "run" / "best.pt", folder / "weights").weights


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="bundled", help="model file (default: the bundled one)")
    parser.add_argument("--config", type=Path, default=Path("configs/cpu_budget.yaml"),
                        help="architecture of the random model used when the checkpoint file is absent")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048], help="square photo sides")
    parser.add_argument("--reps", type=int, default=3, help="timed calls per size")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    path = resolve_model(args.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        label = str(path)
        if not path.is_file():
            path, label = random_model(args.config, Path(tmp)), f"random weights of {args.config}"
        restorer = load_restorer(path)
        print(f"model: {label} ({restorer.label}); torch threads {torch.get_num_threads()}; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        cat = _loader("chelsea")()
        square = cat[:, (cat.shape[1] - cat.shape[0]) // 2:][:, : cat.shape[0]]
        for size in args.sizes:
            gray, hole = seeded_damage(cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA), 0)
            restore(restorer, gray, hole)  # warm-up: thread pool, oneDNN primitives for this size
            times = []
            for _ in range(args.reps):
                start = time.perf_counter()
                restore(restorer, gray, hole)
                times.append(time.perf_counter() - start)
            seen = min(size, MODEL_MAX_SIDE)
            print(f"{size}x{size} (model sees {seen}x{seen}): median {statistics.median(times):.2f} s, best {min(times):.2f} s "
                  f"over {args.reps}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
