"""models/depthwise_precision.py: depthwise convolutions in fp32 under CPU bf16 autocast (train.depthwise_fp32)."""

from __future__ import annotations

import copy

import pytest
import torch
from timm.layers import Conv2dSame
from torch import nn

from models.build import build_generator
from models.depthwise_precision import is_depthwise, keep_depthwise_fp32
from tests.test_models_pretrained import SMOKE_SMP, batch, inputs, model_config
from trainers.config import load_config
from trainers.gan_trainer import GANTrainer
from utils.runtime import BF16_OVERRIDE_ENV


def stack() -> nn.Sequential:
    """A dense 1x1, a depthwise 3x3 with timm's dynamic 'same' padding (the Lite0 kind), a depthwise
    5x5 with a channel multiplier of 2, a dense 1x1."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 1), Conv2dSame(8, 8, 3, stride=2, groups=8), nn.Conv2d(8, 16, 5, padding=2, groups=8),
                         nn.Conv2d(16, 4, 1))


def test_only_depthwise_convolutions_switch_once_and_keep_their_keys() -> None:
    net = stack()
    keys = {k: v.clone() for k, v in net.state_dict().items()}
    assert [is_depthwise(m) for m in net] == [False, True, True, False]
    assert keep_depthwise_fp32(net) == 2 and keep_depthwise_fp32(net) == 0
    assert isinstance(net[1], Conv2dSame) and type(net[1]) is not Conv2dSame  # a subclass: isinstance checks still hold
    assert type(net[0]) is nn.Conv2d and type(net[3]) is nn.Conv2d
    assert all(torch.equal(v, keys[k]) for k, v in net.state_dict().items()) and set(net.state_dict()) == set(keys)


def test_under_bf16_autocast_the_depthwise_layers_compute_in_fp32() -> None:
    net, reference = stack(), stack()
    keep_depthwise_fp32(net)
    x = torch.rand(2, 3, 17, 23)  # odd sides: the dynamic same padding must still run
    with torch.autocast("cpu", dtype=torch.bfloat16):
        dense = net[0](x)
        assert dense.dtype == torch.bfloat16
        depthwise = net[2](net[1](dense))
        assert depthwise.dtype == torch.float32
        assert net[3](depthwise).dtype == torch.bfloat16  # the next dense layer is back in bf16
        expected = reference[2](reference[1](dense.float()))  # the same layers outside autocast
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=False):
        torch.testing.assert_close(depthwise, reference[2](reference[1](dense.float())), rtol=0, atol=0)
    assert expected.dtype == torch.bfloat16  # without the switch autocast would have run them in bf16
    torch.testing.assert_close(net(x), reference(x), rtol=0, atol=0)  # no autocast: unchanged


def test_gradients_flow_and_a_deepcopy_uses_its_own_weights() -> None:
    net = stack()
    keep_depthwise_fp32(net)
    twin = copy.deepcopy(net)  # as the EMA model is made
    with torch.no_grad():
        twin[1].weight.mul_(2)
    x = torch.rand(2, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not torch.equal(twin(x), net(x))
        net(x).float().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert net[1].weight.grad.dtype == torch.float32 and net[1].weight.grad.abs().sum() > 0


def test_lite0_generator_bf16_step_matches_the_fp32_depthwise_reference() -> None:
    """The Lite0 U-Net: 16 depthwise layers switch; its bf16 forward differs from the unswitched bf16
    forward (the depthwise layers really left bf16) and stays close to fp32."""
    torch.manual_seed(0)
    switched = build_generator(model_config())
    plain = copy.deepcopy(switched)
    assert keep_depthwise_fp32(switched) == sum(is_depthwise(m) for m in plain.modules()) > 0
    gray, mask = inputs(64, 64)
    with torch.no_grad():
        full = plain(gray, mask)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ours, theirs = switched(gray, mask).float(), plain(gray, mask).float()
    assert not torch.equal(ours, theirs)
    assert (ours - full).abs().max() < 0.05


@pytest.mark.parametrize("amp, flag, native, expected", [("bf16", True, "1", True), ("bf16", False, "1", False),
                                                   ("off", True, "1", False), ("bf16", True, "0", False)])
def test_the_trainer_switches_only_for_cpu_bf16_with_the_key(amp: str, flag: bool, native: str, expected: bool,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # native "0": a CPU without native bf16 trains in fp32 (utils/runtime.effective_amp), so nothing is switched.
    monkeypatch.setenv(BF16_OVERRIDE_ENV, native)
    config = load_config("configs/smoke.yaml", SMOKE_SMP + [f"train.amp={amp}", f"train.depthwise_fp32={str(flag).lower()}",
                                                            "train.ema.enabled=true"])
    trainer = GANTrainer(config, torch.device("cpu"))
    kinds = {type(m).__name__.startswith("Fp32Depthwise") for m in trainer.generator.modules() if is_depthwise(m)}
    assert kinds == {expected}
    ema_kinds = {type(m).__name__.startswith("Fp32Depthwise") for m in trainer.ema.modules() if is_depthwise(m)}
    assert ema_kinds == {expected}
    result = trainer.train_step(batch())
    assert result.finite and result.scalars
