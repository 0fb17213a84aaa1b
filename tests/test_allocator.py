"""utils.allocator: freed tensors stay in the process, so a repeated step faults no pages in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from utils.allocator import ENV

ROOT = Path(__file__).resolve().parents[1]

# A step's pattern in miniature: tensors of 8 to 30 MB (all under glibc's 32 MiB mmap ceiling)
# held together, freed, and allocated again; prints the median page faults of one repetition.
# The median, because the heap may still grow in the first repetitions after the warm-up.
CYCLE = """
import resource, statistics, sys
sys.path.insert(0, {root!r})
from utils.allocator import keep_freed_memory
print(keep_freed_memory())
import torch
def cycle():
    held = [torch.ones(s * 2**18) for s in (16, 24, 8, 30, 16, 12)]
    del held
for _ in range(3):
    cycle()
faults = []
for _ in range(7):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    cycle()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(statistics.median(faults))
"""
# glibc's own defaults adapt their mmap threshold to the sizes freed, so whether they fault on
# this small pattern depends on its order; these fixed settings (glibc's documented environment
# tunables) make a process return every freed tensor, as the defaults do on a real training step.
RETURNING_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
PAGES_PER_CYCLE = (16 + 24 + 8 + 30 + 16 + 12) * 2**20 // 4096


def faults_per_cycle(setting: str) -> tuple[bool, float]:
    env = {**os.environ, **RETURNING_MALLOC, ENV: setting}
    out = subprocess.run([sys.executable, "-c", CYCLE.format(root=str(ROOT))], env=env,
                         check=True, capture_output=True, text=True).stdout.split()
    return out[0] == "True", float(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_repeated_step_reuses_its_pages() -> None:
    tuned, tuned_faults = faults_per_cycle("tuned")
    assert tuned
    assert tuned_faults < 0.02 * PAGES_PER_CYCLE
    # Without keep_freed_memory the same process faults every page in again on every repetition:
    # the check above is not one that any process passes.
    default, default_faults = faults_per_cycle("default")
    assert not default
    assert default_faults > 0.9 * PAGES_PER_CYCLE


def test_every_cli_sets_it_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from utils import cli

    calls: list[str] = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append("malloc"))
    with pytest.raises(SystemExit) as stop:
        cli.run_cli(lambda: calls.append("main") or 0)
    assert stop.value.code == 0
    assert calls == ["malloc", "main"]
