"""Depthwise convolutions on oneDNN: channels_last against contiguous, fp32 against bf16.

    python benchmarks/bench_depthwise.py [--config configs/cpu_budget.yaml] [--train 8x128] [--infer 4x512]
        [--reps 5] [--warmup 1] [KEY=VALUE ...]

The EfficientNet-Lite0 encoder of configs/cpu_budget.yaml spends much of its step in depthwise
convolutions (one 3x3 or 5x5 filter per channel), which do little arithmetic per byte moved, so
their memory layout and dtype matter more than for dense convolutions. This script runs the
config's generator once at each size with hooks that record every depthwise convolution's input
shape and parameters, then times exactly those convolutions alone, summed over the encoder, in the
four combinations of memory format (channels_last, contiguous) and dtype (fp32, bf16):

  train  `--train BxS`: batch B of SxS crops (the recipe's 8x128), forward + backward (input and
         weight gradients, as in training)
  infer  `--infer BxS`: batch B of SxS images (512x512 DACON images, batch 4), forward only, no grad

The four combinations are interleaved repetition by repetition (foreign load on a shared CPU hits
them alike); it prints each one's milliseconds per pass (median, best in brackets) and its ratio
to channels_last fp32, the layout and dtype training uses (train.channels_last, train.amp=bf16
casts the convolutions to bf16).
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass
from typing import Callable

import _common  # noqa: F401  (puts the repository root on sys.path)
import torch
import torch.nn.functional as F
from _common import interleaved_wall_and_cpu, machine_line, summary
from torch import nn

from models.build import build_generator
from trainers.config import load_config
from utils.runtime import pick_device

FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class DepthwiseCall:
    """One depthwise convolution as the generator calls it: a copy of the module (timm's
    TF-"same" convolutions pad inside their forward) and the input shape it received."""

    module: nn.Conv2d
    input: tuple[int, ...]


def is_depthwise(module: nn.Module) -> bool:
    return isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels == module.out_channels


def depthwise_calls(generator: nn.Module, batch: int, size: int) -> list[DepthwiseCall]:
    """Every depthwise convolution of one forward pass at batch x 1 x size x size, in call order."""
    seen: list[tuple[nn.Conv2d, tuple[int, ...]]] = []

    def record(module: nn.Conv2d, inputs: tuple[torch.Tensor, ...]) -> None:
        seen.append((module, tuple(inputs[0].shape)))

    hooks = [m.register_forward_pre_hook(record) for m in generator.modules() if is_depthwise(m)]
    try:
        with torch.no_grad():
            generator.eval()(torch.rand(batch, 1, size, size), torch.zeros(batch, 1, size, size))
    finally:
        for hook in hooks:
            hook.remove()
    return [DepthwiseCall(copy.deepcopy(module), shape) for module, shape in seen]  # copies without the hook


def depthwise_pass(calls: list[DepthwiseCall], memory_format: torch.memory_format, dtype: torch.dtype,
                   device: torch.device, backward: bool) -> Callable[[], None]:
    """One call = every depthwise convolution of `calls` (forward, and with the input and weight
    gradients when `backward`), in `memory_format` and `dtype`."""
    prepared = []
    for call in calls:
        module = copy.deepcopy(call.module).to(device=device, dtype=dtype, memory_format=memory_format)
        module.requires_grad_(backward)
        x = torch.randn(call.input, device=device, dtype=dtype).contiguous(memory_format=memory_format)
        prepared.append((module, x.requires_grad_(backward)))

    def run() -> None:
        with torch.set_grad_enabled(backward):
            for module, x in prepared:
                y = module(x)
                if backward:
                    x.grad = None
                    module.zero_grad(set_to_none=True)
                    y.backward(torch.ones_like(y))

    return run


def time_calls(label: str, calls: list[DepthwiseCall], args: argparse.Namespace, device: torch.device,
                backward: bool) -> None:
    runs = {f"{fmt} {dt}": depthwise_pass(calls, FORMATS[fmt], DTYPES[dt], device, backward)
            for fmt in FORMATS for dt in DTYPES}
    for run in runs.values():
        for _ in range(args.warmup):
            run()
    times, cpu = interleaved_wall_and_cpu(runs, args.reps, device)
    elements = sum(torch.Size(c.input).numel() for c in calls)
    print(f"{label}: {len(calls)} depthwise convolutions, {elements / 1e6:.1f} M input elements, "
          f"{'forward + backward' if backward else 'forward'}; ms per pass, median (best) of {args.reps}; "
          "cpu = CPU ms of this process (median: on a shared CPU it moves less than the wall clock)")
    base, base_cpu = summary(times["channels_last fp32"])[0], summary(cpu["channels_last fp32"])[0]
    for name, seconds in times.items():
        median, best = summary(seconds)
        cpu_median = summary(cpu[name])[0]
        print(f"  {name:<20} {median * 1e3:9.1f} ({best * 1e3:7.1f})  x{base / median:5.2f} vs channels_last fp32;"
              f" cpu {cpu_median * 1e3:9.1f}  x{base_cpu / cpu_median:5.2f}")


def parse_size(text: str) -> tuple[int, int]:
    batch, size = text.lower().split("x")
    return int(batch), int(size)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--config", default="configs/cpu_budget.yaml", help="config whose generator's depthwise convolutions to time")
    parser.add_argument("--train", type=parse_size, default=(8, 128), help="BATCHxSIZE of the training shapes (forward + backward)")
    parser.add_argument("--infer", type=parse_size, default=(4, 512), help="BATCHxSIZE of the inference shapes (forward)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes of each combination first")
    parser.add_argument("overrides", nargs="*", help="config overrides KEY=VALUE")
    args = parser.parse_args(argv)
    device = pick_device("auto")
    print(machine_line(device))
    generator = build_generator(load_config(args.config, args.overrides).model)
    for label, (batch, size), backward in (("train", args.train, True), ("infer", args.infer, False)):
        calls = depthwise_calls(generator, batch, size)
        if not calls:
            print(f"{label}: the generator of {args.config} has no depthwise convolutions")
            continue
        time_calls(f"{label} {batch}x{size}x{size}", calls, args, device, backward)


if __name__ == "__main__":
    main()
