"""VGG perceptual loss, from a local torchvision weights file only.

Nothing is ever downloaded: the network is built empty and filled from `weights_path`. The VGG
is cut right after the deepest requested layer, so the file may hold either a full torchvision
state dict (e.g. vgg19-dcbb9e9d.pth) or only the `features` layers up to that point.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

from utils.errors import ChromaFillError, ConfigError

_VGG_CFG = {"vgg11": "A", "vgg16": "D", "vgg19": "E"}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_names(network: str) -> list[str]:
    """Names of the modules of torchvision's `vgg.features`: convB_I, reluB_I, poolB."""
    names, block, conv = [], 1, 0
    for item in cfgs[_VGG_CFG[network]]:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 0
        else:
            conv += 1
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
    return names


def _layer_indices(network: str, layers: list[str]) -> list[int]:
    names = layer_names(network)
    unknown = [name for name in layers if name not in names]
    if unknown:
        valid = ", ".join(n for n in names if n.startswith("relu"))
        raise ConfigError("loss.perceptual.layers", f"{network} has no layer {unknown[0]!r}; valid: {valid}")
    return sorted(names.index(name) for name in layers)


def _read_features_state(path: Path) -> dict[str, Tensor]:
    """The `features.*` tensors of a VGG state dict, with the `features.` prefix removed."""
    key = "loss.perceptual.weights_path"
    if not path.is_file():
        raise ChromaFillError(f"{key}: {path}: file not found (it must be a local .pth; nothing is downloaded)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt files
        raise ChromaFillError(f"{key}: {path}: cannot read a PyTorch state dict: {err}") from None
    if not isinstance(state, dict):
        raise ChromaFillError(f"{key}: {path}: expected a state dict, got {type(state).__name__}")
    prefix = "features."
    if any(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return dict(state)


def build_vgg_features(network: str, layers: list[str], weights_path: str) -> tuple[nn.Sequential, list[int]]:
    """Frozen, eval-mode VGG features cut after the deepest layer, and the indices to tap."""
    indices = _layer_indices(network, layers)
    features = make_layers(cfgs[_VGG_CFG[network]], batch_norm=False)[: indices[-1] + 1]
    state = _read_features_state(Path(weights_path))
    wanted = features.state_dict().keys()
    missing = [k for k in wanted if k not in state]
    if missing:
        raise ChromaFillError(
            f"loss.perceptual.weights_path: {weights_path}: no tensor 'features.{missing[0]}' "
            f"(is it a torchvision {network} state dict?)"
        )
    try:
        features.load_state_dict({k: state[k] for k in wanted})
    except RuntimeError as err:
        raise ChromaFillError(f"loss.perceptual.weights_path: {weights_path}: does not fit {network}: {err}") from None
    for layer in features:
        if isinstance(layer, nn.ReLU):
            layer.inplace = False  # a tapped conv output must not be overwritten by the next ReLU
    features.eval().requires_grad_(False)
    return features, indices


class PerceptualLoss(nn.Module):
    """Mean over the chosen layers of the L1 distance between VGG activations.

    Inputs are RGB in [0, 1], normalised with the ImageNet statistics VGG was trained with.
    The VGG is frozen; gradients flow only to the prediction.
    """

    def __init__(self, network: str, layers: list[str], weights_path: str) -> None:
        super().__init__()
        self.features, self.taps = build_vgg_features(network, layers, weights_path)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "PerceptualLoss":
        """Keep the VGG in eval mode whatever the trainer asks."""
        super().train(mode)
        self.features.eval()
        return self

    def activations(self, image: Tensor) -> list[Tensor]:
        x = (image - self.mean) / self.std
        taps, out = set(self.taps), []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in taps:
                out.append(x)
        return out

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        with torch.no_grad():
            target_acts = self.activations(target)
        pred_acts = self.activations(pred)
        return torch.stack([F.l1_loss(p, t) for p, t in zip(pred_acts, target_acts)]).mean()
