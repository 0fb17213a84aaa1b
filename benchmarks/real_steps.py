"""Training steps that real runs make in a fixed training time: train.py itself, loading included.

`bench_train.py --recipes` times `train_step` on one generated batch. A real run also decodes,
damages, crops and pre-fills photos in a loader worker on the same cores, logs, and keeps its EMA
copy, so its steps per minute can differ from the benchmark's in ratio as well as in level. This
script runs `train.py` for each recipe for `--minutes` of training time (`train.max_minutes`, which
leaves out start-up) on a photo folder, with validation and test predictions off, one recipe
after the other and `--reps` rounds interleaved (a burst of foreign load then hits every recipe
alike), and prints each run's steps, the median per recipe, the steps a 20-minute run would make
at that rate, and the ratio to the first recipe. Slow pre-fills (fsr_*) need a warm cache
(tools/warm_prefill_cache.py), or the first run pays for it.

    python benchmarks/real_steps.py PHOTOS NAME=CONFIG[,KEY=VALUE...] ... [--minutes 3] [--reps 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT  # also puts the project on sys.path
from bench_train import parse_recipe

from trainers.checkpoint import load_checkpoint


def run_steps(photos: Path, config: str, overrides: list[str], minutes: float, folder: Path, name: str) -> int:
    """Global steps a train.py run of `config` makes in `minutes` of training time."""
    command = [sys.executable, str(ROOT / "train.py"), "--config", config, f"data.root={photos}",
               f"experiment.output_dir={folder}", f"experiment.name={name}", f"train.max_minutes={minutes}",
               "train.validation.every_epochs=0", "train.test.enabled=false", *overrides]
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output on stderr"])[-1]
        raise SystemExit(f"error: {name}: train.py exited with {done.returncode}: {last}")
    return int(load_checkpoint(folder / name / "last.pt")["global_step"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", type=Path, help="folder of colour photos (data.root)")
    parser.add_argument("recipes", nargs="+", type=parse_recipe, metavar="NAME=CONFIG[,KEY=VALUE...]")
    parser.add_argument("--minutes", type=float, default=3.0, help="training minutes of each run (train.max_minutes)")
    parser.add_argument("--reps", type=int, default=2, help="interleaved rounds")
    args = parser.parse_args(argv)
    if not args.photos.is_dir():
        raise SystemExit(f"error: {args.photos}: not a folder of photos")
    steps: dict[str, list[int]] = {name: [] for name, _, _ in args.recipes}
    with tempfile.TemporaryDirectory(prefix="real_steps_") as tmp:
        for rep in range(args.reps):
            for name, config, overrides in args.recipes:
                steps[name].append(run_steps(args.photos, config, overrides, args.minutes, Path(tmp), f"{name}_{rep}"))
                print(f"round {rep + 1}: {name} {steps[name][-1]} steps", flush=True)
    first = statistics.median(steps[args.recipes[0][0]])
    print(f"{args.minutes:g} training minutes per run, {args.reps} interleaved rounds; median steps; "
          f"steps/20 min = median x 20 / {args.minutes:g}")
    print(f"{'recipe':<16} {'steps':>12} {'median':>7} {'s/step':>7} {'steps/20 min':>12} {'x ' + args.recipes[0][0]:>10}")
    for name, runs_steps in steps.items():
        median = statistics.median(runs_steps)
        runs = ",".join(str(s) for s in runs_steps)
        print(f"{name:<16} {runs:>12} {median:7.0f} {args.minutes * 60 / median:7.3f} {median * 20 / args.minutes:12.0f} "
              f"{median / first:10.2f}")


if __name__ == "__main__":
    main()
