"""Fill the slow pre-fills' disk cache of a run before training, on every CPU core.

    python tools/warm_prefill_cache.py --config configs/cpu_budget.yaml [--jobs N] data.prefill=fsr_fast [key=value ...]

With a slow data.prefill (fsr_fast, fsr_best, shiftmap) a run fills each (training photo, damage)
once, at full size, in its first data.prefill_damages epochs (data/datasets.py): about a second
per photo and damage for fsr_fast, in the DataLoader workers, which then starve the step. This
computes exactly those fills (the same config, seed and damage schedule, so the run only reads
them), and the validation and test splits' fills, in --jobs processes. Takes the same config and
overrides as train.py; a fast data.prefill has nothing to cache.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.build import build_datasets  # noqa: E402
from data.prefill import SLOW_PREFILLS  # noqa: E402
from trainers.config import load_config  # noqa: E402
from utils.cli import run_cli  # noqa: E402

_SPLITS = {}  # set in each worker before forking: the datasets to index


def _load(job: tuple[str, object]) -> None:
    split, key = job
    _SPLITS[split][key]  # computing the sample computes (and caches) its fill


def jobs_of(splits: dict, damages: int) -> list[tuple[str, object]]:
    """Every (split, key) whose sample needs a fill: each training photo under each scheduled damage,
    then every validation and test image."""
    jobs: list[tuple[str, object]] = [("train", (epoch, i)) for epoch in range(damages) for i in range(len(splits["train"]))]
    for name in ("val", "test"):
        if splits.get(name) is not None:
            jobs += [(name, i) for i in range(len(splits[name]))]
    return jobs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--config", required=True, help="the run's experiment YAML")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes (default: every CPU core)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="the run's config overrides")
    args = parser.parse_args()
    config = load_config(args.config, args.overrides)
    if config.data.prefill not in SLOW_PREFILLS:
        print(f"data.prefill={config.data.prefill} runs on each crop: nothing to cache")
        return 0
    splits = build_datasets(config.data, config.experiment.seed)
    _SPLITS.update(train=splits.train, val=splits.val, test=splits.test)
    jobs = jobs_of(_SPLITS, config.data.prefill_damages)
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(max(1, args.jobs)) as pool:
        for done, _ in enumerate(pool.imap_unordered(_load, jobs, chunksize=1), 1):
            if done % 50 == 0 or done == len(jobs):
                print(f"{done}/{len(jobs)} fills, {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    run_cli(main)
