"""Depthwise convolutions in fp32 under CPU bf16 autocast.

oneDNN's bf16 depthwise convolution is slower than its fp32 one on CPUs, most of all in the
backward pass (benchmarks/bench_depthwise.py measured about 3x on the EfficientNet-Lite0
encoder's shapes): a depthwise filter does a few FLOPs per byte, so bf16's faster arithmetic buys
nothing, while its kernels are less tuned. Dense convolutions gain from bf16 and stay in it.

The switch changes each depthwise module's class to a subclass whose forward leaves autocast for
the convolution: state-dict keys stay the same, and a deepcopy (the EMA model) or DDP wrapper keeps
the behaviour, where a patched bound method would keep pointing at the original module.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_FP32_CLASSES: dict[type, type] = {}


def is_depthwise(module: nn.Module) -> bool:
    """A Conv2d with one filter group per input channel (a channel multiplier of 1 or more)."""
    return isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels


def _forward_fp32_on_cpu_autocast(self: nn.Conv2d, x: Tensor) -> Tensor:
    parent = super(type(self), self)  # the original class's forward (timm's Conv2dSame pads there)
    if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return parent.forward(x.float())
    return parent.forward(x)


def _fp32_class(cls: type) -> type:
    if cls not in _FP32_CLASSES:
        _FP32_CLASSES[cls] = type(f"Fp32Depthwise{cls.__name__}", (cls,), {"forward": _forward_fp32_on_cpu_autocast})
    return _FP32_CLASSES[cls]


def keep_depthwise_fp32(network: nn.Module) -> int:
    """Make every depthwise convolution of `network` run in fp32 under CPU autocast (its output is
    fp32; the next dense convolution casts back to bf16). Returns how many were switched; a
    second call switches none. Elsewhere (no autocast, CUDA) they run as before."""
    switched = 0
    for module in network.modules():
        if is_depthwise(module) and type(module) not in _FP32_CLASSES.values():
            module.__class__ = _fp32_class(type(module))
            switched += 1
    return switched
