"""Training steps with glibc's default malloc against utils.allocator.keep_freed_memory.

    python benchmarks/bench_malloc.py [--configs configs/cpu_budget.yaml configs/unet_budget.yaml]
        [--steps 6] [--reps 3] [KEY=VALUE ...]

The setting is process-wide, so each measurement is a fresh process (`CHROMAFILL_MALLOC=default`
or not) that builds the recipe's trainer as bench_train.py --recipes does (one fixed generated
batch, the encoder past its frozen epochs; KEY=VALUE overrides every config, e.g.
data.crop_size=256 train.batch_size=4), runs two warm-up steps, then times `steps` steps and
counts the page faults they cause. Processes alternate between the two settings `reps` times, so
load from other jobs hits both alike; the table gives medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import _common  # noqa: F401  (puts the repository root on sys.path; tunes malloc unless CHROMAFILL_MALLOC=default)
from _common import machine_line

from utils.allocator import ENV


def child(config_path: str, steps: int, overrides: list[str]) -> None:
    """Print {"seconds": per step, "faults": minor page faults per step} for one setting."""
    import torch

    from bench_train import make_batch
    from trainers.config import load_config
    from trainers.gan_trainer import GANTrainer

    config = load_config(config_path, overrides)
    torch.manual_seed(0)
    device = torch.device("cpu")
    trainer = GANTrainer(config, device)
    trainer.on_epoch_start(getattr(config.model.generator, "encoder_frozen_epochs", 0))
    batch = make_batch(config.train.batch_size, config.data.crop_size, device)
    for _ in range(2):
        trainer.train_step(batch)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(batch)
    seconds = (time.perf_counter() - start) / steps
    print(json.dumps({"seconds": seconds, "faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps}))


def measure(config_path: str, steps: int, setting: str, overrides: list[str]) -> dict[str, float]:
    env = {**os.environ, ENV: setting}
    out = subprocess.run([sys.executable, __file__, "--child", config_path, "--steps", str(steps), *overrides],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=["configs/cpu_budget.yaml", "configs/unet_budget.yaml"])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides for every config")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.steps, args.overrides)
        return
    import torch

    print(machine_line(torch.device("cpu")))
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(args.reps):
        for config_path in args.configs:
            for setting in ("default", "tuned"):
                results.setdefault((config_path, setting), []).append(measure(config_path, args.steps, setting, args.overrides))
    print(f"{args.steps} steps per process, {args.reps} processes per row (alternating); medians"
          + (f"; overrides {' '.join(args.overrides)}" if args.overrides else ""))
    print(f"{'config':<28} {'malloc':<8} {'s/step':>7} {'faults/step':>11} {'x default':>9}")
    for config_path in args.configs:
        base = statistics.median(r["seconds"] for r in results[(config_path, "default")])
        for setting in ("default", "tuned"):
            rows = results[(config_path, setting)]
            seconds = statistics.median(r["seconds"] for r in rows)
            faults = statistics.median(r["faults"] for r in rows)
            print(f"{config_path:<28} {setting:<8} {seconds:7.3f} {faults:11.0f} {base / seconds:9.2f}")


if __name__ == "__main__":
    main()
