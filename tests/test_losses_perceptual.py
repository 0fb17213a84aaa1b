"""The optional VGG perceptual loss: local weights only, clear errors, a tiny truncated VGG."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.models.vgg import cfgs, make_layers

from losses.combined import GeneratorLoss
from losses.config import LossConfig
from losses.perceptual import PerceptualLoss, layer_names
from utils.config import from_dict
from utils.errors import ChromaFillError, ConfigError

OFF = {name: {"weight": 0.0} for name in ["pixel", "ssim", "smooth", "adversarial", "hue_hist"]}


@pytest.fixture()
def tiny_vgg11(tmp_path: Path) -> Path:
    """Randomly initialised vgg11 `features` up to relu2_1 (index 4), saved as torchvision names them."""
    torch.manual_seed(0)
    features = make_layers(cfgs["A"])[:5]
    path = tmp_path / "vgg11_head.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path


def perceptual_config(path: Path | None, layers: list[str] | None = None) -> LossConfig:
    section = {"weight": 1.0, "network": "vgg11", "weights_path": None if path is None else str(path)}
    if layers is not None:
        section["layers"] = layers
    return from_dict(LossConfig, {**OFF, "perceptual": section}, "loss")


def test_weight_without_a_weights_file_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        perceptual_config(None)
    assert err.value.key == "loss.perceptual.weights_path"


def test_layer_names_follow_torchvision_vgg_features() -> None:
    assert layer_names("vgg11")[:5] == ["conv1_1", "relu1_1", "pool1", "conv2_1", "relu2_1"]
    assert layer_names("vgg19").index("relu5_4") == 35  # torchvision's vgg19.features[35]


def test_tiny_vgg_loads_is_zero_at_identity_and_sends_gradients(tiny_vgg11: Path) -> None:
    loss_fn = GeneratorLoss(perceptual_config(tiny_vgg11, ["relu1_1", "relu2_1"]))
    vgg = loss_fn.image_terms["perceptual"].features
    assert len(vgg) == 5 and not any(p.requires_grad for p in vgg.parameters())
    target = torch.rand(2, 3, 32, 32)
    total, terms = loss_fn(target, target, None)
    assert list(terms) == ["perceptual"] and total.item() == pytest.approx(0.0, abs=1e-6)
    pred = torch.rand(2, 3, 32, 32, requires_grad=True)
    total, _ = loss_fn(pred, target, None)
    total.backward()
    assert total.item() > 0 and pred.grad.abs().sum() > 0


def test_a_conv_layer_tap_is_not_overwritten_by_the_following_relu(tiny_vgg11: Path) -> None:
    loss = PerceptualLoss("vgg11", ["conv1_1"], str(tiny_vgg11))
    acts = loss.activations(torch.rand(1, 3, 16, 16))
    assert (acts[0] < 0).any()


@pytest.mark.parametrize("layers, message", [(["relu9_1"], "no layer 'relu9_1'"), (["relu3_1"], "no tensor 'features.6.weight'")])
def test_bad_layers_or_a_too_short_weights_file_are_clear_errors(tiny_vgg11: Path, layers: list[str], message: str) -> None:
    with pytest.raises(ChromaFillError, match=message):
        GeneratorLoss(perceptual_config(tiny_vgg11, layers))


def test_missing_or_corrupt_weights_file_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ChromaFillError, match="loss.perceptual.weights_path: .*not found"):
        GeneratorLoss(perceptual_config(tmp_path / "absent.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ChromaFillError, match="loss.perceptual.weights_path: .*cannot read"):
        GeneratorLoss(perceptual_config(junk))
