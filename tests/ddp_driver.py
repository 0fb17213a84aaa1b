"""Run `run_training` under torchrun with faults injected per rank; each rank writes what it ended with.

    python -m torch.distributed.run --nproc_per_node 2 tests/ddp_driver.py OUT_JSON_PREFIX SCENARIO key=value...

Scenarios (what tests/test_ddp.py checks the ranks agree on):
- nan: rank 1 alone gets a NaN generator loss at its 2nd step;
- budget: only rank 0's clock says the time budget is spent (from step 5, inside epoch 3), and
  validation scores fall every epoch, so the plateau schedule lowers the learning rate.
Writes OUT_JSON_PREFIX.rank<R>.json: a hash of the generator parameters, the non-finite count,
the learning rates, the step reached, which processes wrote the group-split cache, the all_reduce
calls our code made per training step, and whether the generator's DDP wrapper still searches for
unused parameters.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import data.grouping as grouping  # noqa: E402
import trainers.loop as loop  # noqa: E402
from losses.combined import GeneratorLoss  # noqa: E402
from trainers.config import load_config  # noqa: E402
from trainers.gan_trainer import GANTrainer, unwrap  # noqa: E402

RANK = int(os.environ["RANK"])


def inject_nan_on_rank_1() -> None:
    original = GeneratorLoss.forward
    calls = {"n": 0}

    def forward(self, *args, **kwargs):
        total, terms = original(self, *args, **kwargs)
        calls["n"] += 1
        return (total * float("nan"), terms) if RANK == 1 and calls["n"] == 2 else (total, terms)

    GeneratorLoss.forward = forward


def budget_spent_on_rank_0_only_and_falling_scores() -> None:
    loop._Run._out_of_time = lambda self, started: RANK == 0 and self.pos.global_step >= 5
    real_validate = loop.validate
    scores = iter([0.5, 0.4, 0.3, 0.2])

    def falling(*args, **kwargs):
        result, grid = real_validate(*args, **kwargs)
        return {**result, "score": next(scores)}, grid

    loop.validate = falling


def record_cache_writes(log: list[int]) -> None:
    real_savez = np.savez

    def savez(*args, **kwargs):
        log.append(RANK)
        return real_savez(*args, **kwargs)

    grouping.np.savez = savez  # type: ignore[attr-defined]


def count_step_collectives(log: dict[str, int]) -> None:
    """Count the all_reduce calls made inside training steps (DDP's gradient buckets go through C++)."""
    real_all_reduce = torch.distributed.all_reduce
    real_step = GANTrainer.train_step
    inside = {"step": False}

    def all_reduce(tensor, *args, **kwargs):
        log["calls"] += inside["step"]
        return real_all_reduce(tensor, *args, **kwargs)

    def train_step(self, *args, **kwargs):
        inside["step"], log["steps"] = True, log["steps"] + 1
        try:
            return real_step(self, *args, **kwargs)
        finally:
            inside["step"] = False

    torch.distributed.all_reduce = all_reduce
    GANTrainer.train_step = train_step


def main() -> int:
    out_prefix, scenario, *overrides = sys.argv[1:]
    {"nan": inject_nan_on_rank_1, "budget": budget_spent_on_rank_0_only_and_falling_scores, "plain": lambda: None}[scenario]()
    cache_writes: list[int] = []
    record_cache_writes(cache_writes)
    step_collectives = {"calls": 0, "steps": 0}
    count_step_collectives(step_collectives)
    ended: dict = {}
    real_run = loop._Run.run

    def run_and_record(self) -> int:
        code = real_run(self)
        digest = hashlib.sha256()
        # Parameters only: BatchNorm running statistics are each rank's own until DDP broadcasts
        # rank 0's at the next forward, so they legitimately differ after the last step.
        for tensor in unwrap(self.trainer.generator).parameters():
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        ended.update(code=code, generator_hash=digest.hexdigest(), nonfinite_total=self.trainer.nonfinite_total,
                     learning_rates=self.trainer.learning_rates(), global_step=self.pos.global_step,
                     cache_writes=cache_writes,
                     collectives_per_step=step_collectives["calls"] / max(step_collectives["steps"], 1),
                     find_unused_parameters=getattr(self.trainer.generator, "find_unused_parameters", None))
        return code

    loop._Run.run = run_and_record
    config = load_config(REPO / "configs" / "smoke.yaml", overrides)
    code = loop.run_training(config)
    Path(f"{out_prefix}.rank{RANK}.json").write_text(json.dumps(ended))
    return code


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
