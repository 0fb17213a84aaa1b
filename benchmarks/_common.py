"""Shared by the speed benchmarks: the machine's matmul throughput and robust timing on a busy CPU.

The development machine's 2 cores are shared with other jobs, so single timings are noisy: the
benchmarks repeat every measurement, interleave the variants they compare (so a burst of
foreign load hits all of them alike) and report the median and the best repetition.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock timings measure the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(dtype: torch.dtype, device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """Best-of-`repeats` GFLOP/s of an n x n torch.mm: the machine's practical peak for that dtype."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    torch.mm(a, b)  # warm-up: thread pool, oneDNN/cuBLAS kernel selection
    synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def interleaved_times(runs: dict[str, Callable[[], None]], repetitions: int, device: torch.device) -> dict[str, list[float]]:
    """Wall-clock seconds of each run per repetition, the runs taking turns so shared-CPU noise hits all alike."""
    return interleaved_wall_and_cpu(runs, repetitions, device)[0]


def interleaved_wall_and_cpu(runs: dict[str, Callable[[], None]], repetitions: int,
                             device: torch.device) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall-clock and process CPU seconds of each run per repetition, interleaved.

    On a CPU shared with other jobs the wall clock mostly measures how much of the machine this
    process got; the CPU seconds this process used (all its threads) are far less sensitive to
    that, so comparing both tells contention from real differences.
    """
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repetitions):
        for name, run in runs.items():
            synchronize(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            synchronize(device)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return wall, cpu


def summary(seconds: list[float]) -> tuple[float, float]:
    """(median, best) of repeated timings."""
    return statistics.median(seconds), min(seconds)


def machine_line(device: torch.device) -> str:
    """One line naming the device and thread count, printed above every benchmark's figures."""
    if device.type == "cuda":
        return f"device {torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"device cpu, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
