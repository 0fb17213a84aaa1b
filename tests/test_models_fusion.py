"""BatchNorm folding for inference: same outputs, no BatchNorm left, refuses a training network."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from models.build import build_generator
from models.fusion import fold_batchnorm
from trainers.config import load_config


def trained_looking(net: nn.Module) -> nn.Module:
    """Random BatchNorm statistics and affine parameters, so folding them is not a no-op."""
    generator = torch.Generator().manual_seed(3)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            shape = module.running_mean.shape
            module.running_mean.copy_(torch.rand(shape, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(shape, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(shape, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(shape, generator=generator) - 0.5)
    return net


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_folded_generator_predicts_as_the_original(upsample: str) -> None:
    config = load_config("configs/smoke.yaml", [f"model.generator.upsample={upsample}"])
    torch.manual_seed(0)
    original = trained_looking(build_generator(config.model)).eval()
    norms = sum(isinstance(m, nn.BatchNorm2d) for m in original.modules())
    folded = copy.deepcopy(original)
    assert fold_batchnorm(folded) == norms > 0
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    gray, mask = torch.rand(2, 1, 48, 40), (torch.rand(2, 1, 48, 40) > 0.8).float()
    with torch.no_grad():
        expected, got = original(gray, mask), folded(gray, mask)
    assert torch.allclose(expected, got, atol=1e-5), float((expected - got).abs().max())


def test_transposed_convolution_fold_scales_output_channels() -> None:
    conv = nn.ConvTranspose2d(3, 5, 4, stride=2, padding=1, bias=False)
    sequence = trained_looking(nn.Sequential(conv, nn.BatchNorm2d(5))).eval()
    x = torch.randn(2, 3, 6, 7)
    with torch.no_grad():
        expected = sequence(x)
        assert fold_batchnorm(sequence) == 1
        assert isinstance(sequence[1], nn.Identity) and sequence[0].bias is not None
        assert torch.allclose(sequence(x), expected, atol=1e-5)


def test_instance_norm_and_lone_batchnorm_are_left_alone() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.InstanceNorm2d(4), nn.ReLU(), nn.BatchNorm2d(4)).eval()
    assert fold_batchnorm(net) == 0
    assert isinstance(net[3], nn.BatchNorm2d)


def test_training_network_is_refused() -> None:
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))
