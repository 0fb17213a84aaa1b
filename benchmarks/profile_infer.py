"""Where one inference forward spends its time: convolutions, copies, softmax, other, per config.

    python benchmarks/profile_infer.py [--config configs/cpu_budget.yaml ...] [--size 512] [--batch 1] [--amp] [--top 8]

Each config's generator (random weights, seed 0) is prepared as infer.py prepares it
(`prepare_for_inference`: eval mode, BatchNorm folded, channels_last, bf16 weights under --amp)
and one forward of `--batch` images of `--size` x `--size` (after one warm-up forward) runs under
torch.profiler. The self CPU time of every aten operator is summed by category:

    convolution  aten::convolution and the kernels under it (oneDNN, depthwise, transposed)
    copy         aten::copy_, to/_to_copy, contiguous, clone (dtype and memory-layout copies)
    softmax      aten::softmax / _softmax / log_softmax
    other        everything else (element-wise, resizing, concatenation, ...), its top ops listed

Wall time under the profiler is a little higher than without it; the shares are what matter.
"""

from __future__ import annotations

import argparse
import contextlib
from collections import defaultdict

import _common  # noqa: F401  (puts the repository root on sys.path)
import torch
from torch.profiler import ProfilerActivity, profile

from models.build import build_generator
from trainers.config import load_config
from trainers.inference import prepare_for_inference

CATEGORIES = ("convolution", "copy", "softmax", "other")
_COPY_OPS = {"aten::copy_", "aten::to", "aten::_to_copy", "aten::contiguous", "aten::clone"}


def category(op: str) -> str:
    if "conv" in op or "mkldnn" in op:
        return "convolution"
    if op in _COPY_OPS:
        return "copy"
    if "softmax" in op:
        return "softmax"
    return "other"


def breakdown(generator: torch.nn.Module, gray: torch.Tensor, mask: torch.Tensor,
              amp: bool) -> tuple[dict[str, float], dict[str, float], float]:
    """(self CPU ms per category, self CPU ms per op of `other`, wall ms) of one forward."""
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if amp else contextlib.nullcontext
    with torch.no_grad(), autocast():
        generator(gray, mask)  # warm-up: oneDNN primitive creation, weight reorders
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            generator(gray, mask)
    per_category: dict[str, float] = defaultdict(float)
    others: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        if not event.key.startswith("aten::"):
            continue
        ms = event.self_cpu_time_total / 1000
        per_category[category(event.key)] += ms
        if category(event.key) == "other":
            others[event.key] += ms
    wall = max(e.time_range.end for e in prof.events()) - min(e.time_range.start for e in prof.events())
    return per_category, others, wall / 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--config", nargs="+", default=["configs/cpu_budget.yaml", "configs/dacon_unet.yaml"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--amp", action="store_true", help="bf16 autocast and bf16 convolution weights, as infer.py --amp")
    parser.add_argument("--top", type=int, default=6, help="how many ops of 'other' to list")
    parser.add_argument("overrides", nargs="*", help="config overrides KEY=VALUE, applied to every --config")
    args = parser.parse_args(argv)
    print(f"one forward, batch {args.batch}, {args.size}x{args.size}, {'bf16 --amp' if args.amp else 'fp32'}, "
          f"{torch.get_num_threads()} torch threads; self CPU ms (share)")
    gray = torch.rand(args.batch, 1, args.size, args.size)
    mask = torch.zeros_like(gray)
    mask[..., args.size // 4: args.size // 2, args.size // 3: args.size // 2] = 1
    for path in args.config:
        torch.manual_seed(0)
        generator = prepare_for_inference(build_generator(load_config(path, args.overrides).model), torch.device("cpu"), args.amp)
        per_category, others, wall = breakdown(generator, gray, mask, args.amp)
        total = sum(per_category.values())
        cells = "  ".join(f"{c} {per_category[c]:7.1f} ({per_category[c] / total:4.0%})" for c in CATEGORIES)
        print(f"{path}: wall {wall:.0f} ms; {cells}")
        top = sorted(others.items(), key=lambda kv: -kv[1])[:args.top]
        print("    other: " + ", ".join(f"{name[6:]} {ms:.1f}" for name, ms in top))


if __name__ == "__main__":
    main()
