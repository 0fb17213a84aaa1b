"""Random generators in the trainer's checkpoint layout, shared by the export, bundled-model and web
app tests: far from gray (kaiming init), with random BatchNorm statistics so that folding and every
layer matter."""

from __future__ import annotations

import torch

from models.build import build_generator
from trainers.config import Config


def random_generator(config: Config, vivid: bool = False) -> torch.nn.Module:
    """The config's generator, seeded, with random BatchNorm running statistics; `vivid` scales the
    chroma_bins classifier up so that the bins are confident and the colours strong."""
    torch.manual_seed(0)
    generator = build_generator(config.model)
    for module in generator.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    if vivid and getattr(generator.output_head, "bins", None) is not None:
        with torch.no_grad():
            generator.output_head.bins.classifier.weight.mul_(10)
    return generator


def shifted_ema(raw: dict[str, torch.Tensor], shift: float, steps: int) -> dict[str, torch.Tensor]:
    """An EMA state dict (torch.optim.swa_utils.AveragedModel's keys) `shift` away from the raw weights."""
    ema = {f"module.{k}": (v + shift if v.is_floating_point() else v) for k, v in raw.items()}
    ema["n_averaged"] = torch.tensor(steps)
    return ema
