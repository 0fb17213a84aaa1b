"""One Adam step over a network's channels_last weights: torch's fused Adam against ChannelsLastAdam.

    python benchmarks/bench_optimizer.py [--config configs/dacon_unet.yaml] [--net generator] [--reps 9]

The trainer keeps convolution weights channels_last. torch's fused Adam kernel needs flat
tensors, so it clones every channels_last weight into the default layout and copies it back;
trainers.optimizers.ChannelsLastAdam hands the kernel the same memory as a contiguous permuted
view instead. Prints the median (best) milliseconds per step of each, interleaved, with the
gradients fixed (the update itself is the same).
"""

from __future__ import annotations

import argparse

import _common  # noqa: F401  (puts the repository root on sys.path)
import torch
from _common import interleaved_times, machine_line, summary

from models.build import build_discriminator, build_generator
from trainers.config import load_config
from trainers.optimizers import build_adam


def channels_last_parameters(net: torch.nn.Module, seed: int) -> list[torch.nn.Parameter]:
    """The network's weights in the trainer's layout, each with a fixed random gradient."""
    net = net.to(memory_format=torch.channels_last)
    torch.manual_seed(seed)
    params = list(net.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    return params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--config", default="configs/dacon_unet.yaml")
    parser.add_argument("--net", choices=["generator", "discriminator"], default="generator")
    parser.add_argument("--reps", type=int, default=9, help="interleaved repetitions")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per repetition")
    args = parser.parse_args(argv)

    device = torch.device("cpu")  # the layout copies this measures are a CPU kernel's
    print(machine_line(device))
    model = load_config(args.config, []).model
    build = build_generator if args.net == "generator" else build_discriminator
    torch_params = channels_last_parameters(build(model), 0)
    our_params = channels_last_parameters(build(model), 0)
    torch_adam = torch.optim.Adam(torch_params, lr=2e-4, betas=(0.5, 0.999), fused=True)
    ours = build_adam(our_params, 2e-4, (0.5, 0.999), 0.0, device)
    runs = {"torch fused Adam": lambda: [torch_adam.step() for _ in range(args.steps)],
            "ChannelsLastAdam": lambda: [ours.step() for _ in range(args.steps)]}
    for run in runs.values():
        run()  # creates the moments
    times = interleaved_times(runs, args.reps, device)
    n_params = sum(p.numel() for p in our_params)
    print(f"{args.net} of {args.config}: {n_params / 1e6:.1f} M parameters, channels_last; "
          f"ms per step, median (best) of {args.reps} x {args.steps} steps")
    for name, seconds in times.items():
        median, best = summary(seconds)
        print(f"{name:<18} {1000 * median / args.steps:7.1f} ({1000 * best / args.steps:6.1f})")


if __name__ == "__main__":
    main()
