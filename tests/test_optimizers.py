"""Adam on channels_last weights: the same update as torch's Adam, in place, without copies."""

from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from trainers.gan_trainer import gradient_norm
from trainers.optimizers import ChannelsLastAdam, ChannelsLastAdamW, build_adam, flat_view, flat_views

CPU = torch.device("cpu")


def conv_weights(channels_last: bool, seed: int = 0) -> list[torch.nn.Parameter]:
    """A 4-D conv weight, a bias, and a 2-D matrix, with gradients in the parameters' layouts."""
    gen = torch.Generator().manual_seed(seed)
    shapes = [(8, 6, 4, 4), (8,), (5, 7)]
    params = []
    for shape in shapes:
        p = torch.randn(shape, generator=gen)
        if p.dim() == 4 and channels_last:
            p = p.contiguous(memory_format=torch.channels_last)
        params.append(torch.nn.Parameter(p))
    return params


def set_grads(params: list[torch.nn.Parameter], step: int) -> None:
    gen = torch.Generator().manual_seed(100 + step)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen).contiguous(
            memory_format=torch.channels_last if p.dim() == 4 and not p.is_contiguous() else torch.contiguous_format)


def run_steps(params: list[torch.nn.Parameter], optimizer: torch.optim.Optimizer, steps: int = 3) -> None:
    for step in range(steps):
        set_grads(params, step)
        optimizer.step()


@pytest.mark.parametrize("weight_decay, amsgrad", [(0.0, False), (0.01, False), (0.0, True)])
def test_update_matches_torch_adam_on_channels_last_weights(weight_decay: float, amsgrad: bool) -> None:
    ours, plain = conv_weights(True), conv_weights(False)
    opt = build_adam(ours, 1e-2, (0.5, 0.999), weight_decay, CPU)
    assert isinstance(opt, ChannelsLastAdamW if weight_decay else ChannelsLastAdam)
    opt.param_groups[0]["amsgrad"] = amsgrad  # not a trainer option; the views must still line up
    reference_cls = torch.optim.AdamW if weight_decay else torch.optim.Adam
    reference = reference_cls(plain, lr=1e-2, betas=(0.5, 0.999), weight_decay=weight_decay, amsgrad=amsgrad, foreach=False)
    run_steps(ours, opt)
    run_steps(plain, reference)
    for a, b in zip(ours, plain):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-5, atol=1e-6)
    weight = ours[0]
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    for key in ("exp_avg", "exp_avg_sq"):
        assert opt.state[weight][key].is_contiguous(memory_format=torch.channels_last)


def test_step_updates_channels_last_weights_without_copying_them() -> None:
    # torch's fused Adam clones a channels_last tensor into the default layout and copies it back:
    # two full copies per tensor per step, which is what this optimizer exists to avoid.
    params = [torch.nn.Parameter(torch.randn(64, 32, 4, 4).contiguous(memory_format=torch.channels_last))]
    opt = build_adam(params, 1e-3, (0.5, 0.999), 0.0, CPU)
    run_steps(params, opt, steps=1)  # creates the state
    storage = params[0].data_ptr()
    set_grads(params, 1)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        opt.step()
    copies = [(e.name, e.input_shapes) for e in prof.events()
              if e.name in ("aten::clone", "aten::copy_", "aten::contiguous") and [64, 32, 4, 4] in e.input_shapes]
    assert copies == []
    assert params[0].data_ptr() == storage


def test_state_dict_loads_into_torch_adam_and_back() -> None:
    """Checkpoints stay plain Adam state: a run can resume across the switch either way."""
    ours = conv_weights(True)
    opt = build_adam(ours, 1e-2, (0.5, 0.999), 0.0, CPU)
    run_steps(ours, opt, steps=2)
    plain = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    torch_adam = torch.optim.Adam(plain, lr=1e-2, betas=(0.5, 0.999), fused=True)
    torch_adam.load_state_dict(opt.state_dict())
    resumed = build_adam([torch.nn.Parameter(p.detach().clone()) for p in ours], 1e-2, (0.5, 0.999), 0.0, CPU)
    resumed.load_state_dict(torch_adam.state_dict())
    for a, b in zip(opt.state_dict()["state"].values(), resumed.state_dict()["state"].values()):
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_flat_view_is_the_same_memory_or_none() -> None:
    x = torch.randn(2, 3, 4, 5)
    assert flat_view(x) is x
    cl = x.contiguous(memory_format=torch.channels_last)
    view = flat_view(cl)
    assert view is not None and view.is_contiguous() and view.data_ptr() == cl.data_ptr()
    assert view.shape == (2, 4, 5, 3)
    assert flat_view(x[:, :, ::2]) is None


def test_flat_views_leave_positions_with_mixed_layouts_alone() -> None:
    cl = torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    nchw = torch.randn(2, 3, 4, 5)
    params, grads = [cl, cl.clone()], [nchw, cl.clone()]
    flat_views(params, grads)
    assert params[0] is cl and grads[0] is nchw  # mixed: left to the kernel
    assert params[1].shape == grads[1].shape == (2, 4, 5, 3)


@pytest.mark.parametrize("clip", [0.0, 0.5])
def test_gradient_norm_is_measured_before_clipping(clip: float) -> None:
    params = conv_weights(True)
    set_grads(params, 0)
    before = [p.grad.clone() for p in params]
    expected = torch.linalg.vector_norm(torch.cat([g.flatten() for g in before]))
    norm = gradient_norm(params, clip)
    torch.testing.assert_close(norm, expected)
    scale = min(1.0, clip / float(expected)) if clip > 0 else 1.0
    for p, g in zip(params, before):
        torch.testing.assert_close(p.grad, g * scale, rtol=1e-5, atol=1e-6)
