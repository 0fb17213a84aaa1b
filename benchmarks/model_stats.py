"""Parameter count and forward FLOPs of each network at 512x512 (the DACON image size).

Run from the repository root: `python benchmarks/model_stats.py [--size 512]`. FLOPs are counted
by torch.utils.flop_counter.FlopCounterMode (a multiply-add counts as 2 FLOPs; MACs = FLOPs / 2)
for one image, so the figures do not depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.build import build_discriminator, build_generator, build_mask_net  # noqa: E402
from models.config import GeneratorConfig, ModelConfig  # noqa: E402
from trainers.config import load_config  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# The 20-CPU-minute recipes of README "Quality", by config file.
RECIPES = ("unet_budget.yaml", "pretrained.yaml", "cpu_budget.yaml")


def count_flops(net: nn.Module, *inputs: torch.Tensor) -> int:
    """Forward FLOPs of `net` on `inputs`, in eval mode and without autograd."""
    net.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(*inputs)
    return counter.get_total_flops()


def smp_config() -> ModelConfig:
    cfg = ModelConfig()
    cfg.generator = GeneratorConfig(type="smp_unet", encoder_weights="none")  # weights do not change the counts
    return cfg


def stats(size: int) -> list[tuple[str, int, int]]:
    """(name, parameters, forward FLOPs) for the default networks and the smp_unet generators."""
    cfg = ModelConfig()
    cfg.mask_net.enabled = True
    gray = torch.rand(1, 1, size, size)
    mask = torch.zeros_like(gray)
    rgb = torch.rand(1, 3, size, size)
    nets = [
        ("generator (unet, default)", build_generator(cfg), (gray, mask)),
        ("discriminator (patchgan, default)", build_discriminator(cfg), (gray, rgb)),
        ("mask net (unet, when enabled)", build_mask_net(cfg), (gray,)),
        ("generator (smp_unet, Lite0 + U-Net, default)", build_generator(smp_config()), (gray, mask)),
    ]
    for recipe in RECIPES:
        generator = load_config(CONFIGS / recipe).model.generator
        nets.append((f"generator ({generator.type}, {generator.head}, configs/{recipe})",
                     build_generator(load_config(CONFIGS / recipe).model), (gray, mask)))
    return [(name, sum(p.numel() for p in net.parameters()), count_flops(net, *x)) for name, net, x in nets]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="square input side in pixels")
    args = parser.parse_args()
    print(f"| model | parameters | forward GFLOPs at {args.size}x{args.size} | GMACs |")
    print("|---|---:|---:|---:|")
    for name, params, flops in stats(args.size):
        print(f"| {name} | {params / 1e6:.2f} M | {flops / 1e9:.1f} | {flops / 2e9:.1f} |")


if __name__ == "__main__":
    main()
