"""Weight initialisation (pix2pix's `init_weights`: normal 0.02, xavier, kaiming)."""

from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

_CONV = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
_NORM = (nn.BatchNorm2d, nn.InstanceNorm2d)


def init_weights(net: nn.Module, kind: str, gain: float) -> nn.Module:
    """Initialise every conv/linear weight of `net` by `kind`, biases to 0, norm scales to N(1, gain).

    Spectral-normalised convolutions are unwrapped, initialised and wrapped again: the
    spectral-norm estimate (power iteration on its u, v vectors) is computed when it is attached,
    so attaching it after initialising keeps the first training steps correctly normalised.
    """
    for module in net.modules():
        if isinstance(module, _CONV):
            wrapped = parametrize.is_parametrized(module, "weight")
            if wrapped:
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
            _init_conv(module, kind, gain)
            if wrapped:
                spectral_norm(module)
        elif isinstance(module, _NORM) and module.weight is not None:
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
    return net


def _init_conv(module: nn.Module, kind: str, gain: float) -> None:
    if kind == "normal":
        nn.init.normal_(module.weight, 0.0, gain)
    elif kind == "xavier":
        nn.init.xavier_normal_(module.weight, gain=gain)
    elif kind == "kaiming":
        nn.init.kaiming_normal_(module.weight, a=0, mode="fan_in")
    else:
        raise ValueError(f"init type {kind!r}: expected normal, xavier or kaiming")
    if module.bias is not None:
        nn.init.zeros_(module.bias)
