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
# held together, freed, and allocated again; prints the page faults of one repetition.
CYCLE = """
import resource, sys
sys.path.insert(0, {root!r})
from utils.allocator import keep_freed_memory
print(keep_freed_memory())
import torch
def cycle():
    held = [torch.ones(s * 2**18) for s in (16, 24, 8, 30, 16, 12)]
    del held
cycle(); cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    cycle()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""
PAGES_PER_CYCLE = (16 + 24 + 8 + 30 + 16 + 12) * 2**20 // 4096


def faults_per_cycle(setting: str) -> tuple[bool, float]:
    out = subprocess.run([sys.executable, "-c", CYCLE.format(root=str(ROOT))], env={**os.environ, ENV: setting},
                         check=True, capture_output=True, text=True).stdout.split()
    return out[0] == "True", float(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_repeated_step_reuses_its_pages() -> None:
    tuned, tuned_faults = faults_per_cycle("tuned")
    assert tuned
    assert tuned_faults < 0.02 * PAGES_PER_CYCLE
    # The same pattern under glibc's defaults faults most of its pages in again every time (what
    # the setting is for): the check above is not one that any process passes.
    default, default_faults = faults_per_cycle("default")
    assert not default
    assert default_faults > 0.25 * PAGES_PER_CYCLE


def test_every_cli_sets_it_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from utils import cli

    calls: list[str] = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append("malloc"))
    with pytest.raises(SystemExit) as stop:
        cli.run_cli(lambda: calls.append("main") or 0)
    assert stop.value.code == 0
    assert calls == ["malloc", "main"]
