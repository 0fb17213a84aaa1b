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

from utils.allocator import keep_freed_memory  # noqa: E402  (needs ROOT on sys.path)
from utils.runtime import native_bf16  # noqa: E402

keep_freed_memory()  # benchmarks time what the CLIs run (utils.cli.run_cli does the same)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock timings measure the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_seconds(run: Callable[[], object], device: torch.device, repeats: int) -> float:
    """The fastest of `repeats` timed calls of `run`, after one untimed warm-up call (thread pool,
    oneDNN/cuBLAS kernel selection and primitive creation)."""
    run()
    synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def matmul_gflops(dtype: torch.dtype, device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """Best-of-`repeats` GFLOP/s of an n x n torch.mm: the machine's practical peak for that dtype."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    return 2 * n**3 / best_seconds(lambda: torch.mm(a, b), device, repeats) / 1e9


def conv_gflops(dtype: torch.dtype, device: torch.device, repeats: int = 5) -> float:
    """Best-of-`repeats` GFLOP/s of one large convolution (4x256x32x32 -> 512 channels, 4x4, channels_last).

    The other practical peak: on AMD CPUs torch.mm's fp32 path (MKL) reaches well under half of
    what oneDNN's convolution kernels do, so the matmul figure alone understates the machine for
    a convolutional network.
    """
    x = torch.randn(4, 256, 32, 32, device=device).to(dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(512, 256, 4, 4, device=device).to(dtype).contiguous(memory_format=torch.channels_last)
    flops = 2 * 4 * 512 * 29 * 29 * 256 * 16
    with torch.no_grad():
        return flops / best_seconds(lambda: torch.conv2d(x, w), device, repeats) / 1e9


def peaks_line(device: torch.device) -> str:
    """The machine's matmul and convolution GFLOP/s, fp32 and bf16, on one line. Emulated bf16 (a CPU
    without AVX512) is named, not timed: its 2048x2048 matmul alone takes over a minute there."""
    native = native_bf16(device)
    mm_bf16 = f"{matmul_gflops(torch.bfloat16, device):.0f}" if native else "emulated"
    conv_bf16 = f"{conv_gflops(torch.bfloat16, device):.0f}" if native else "emulated"
    return (f"peak GFLOP/s: matmul 2048x2048 fp32 {matmul_gflops(torch.float32, device):.0f}, bf16 {mm_bf16}; "
            f"convolution fp32 {conv_gflops(torch.float32, device):.0f}, bf16 {conv_bf16}")


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
