"""Networks: shapes at any size, the luminance guarantee, determinism, PatchGAN structure, options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from models import registry
from models.build import build_discriminator, build_generator, build_mask_net
from models.config import ModelConfig
from metrics.torch_score import to_uint8
from models.patchgan import receptive_field
from utils.color import luma, pil_luma
from utils.config import from_dict
from utils.errors import ConfigError


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Initial weights come from the global RNG: fix it so each test sees the same nets in any order."""
    torch.manual_seed(0)


def model_cfg(**sections: dict) -> ModelConfig:
    """A validated ModelConfig from plain per-section overrides, as a YAML file would give."""
    return from_dict(ModelConfig, sections, "model")


def natural_gray(h: int, w: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """8-bit-valued gray images in [0,1]: smooth gradients plus texture, Bx1xHxW."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = []
    for _ in range(batch):
        a, b, c = rng.uniform(-1, 1, 3)
        smooth = 0.5 + 0.3 * np.sin(3 * a * xx + 4 * b * yy + c)
        img = np.clip(smooth + rng.normal(0, 0.05, (h, w)), 0, 1)
        out.append(np.round(img * 255) / 255)
    return torch.tensor(np.stack(out)[:, None], dtype=torch.float32)


def rect_mask(gray: torch.Tensor) -> torch.Tensor:
    h, w = gray.shape[-2:]
    mask = torch.zeros_like(gray)
    mask[..., h // 4 : h // 2, w // 3 : 2 * w // 3] = 1
    return mask


SMALL_G = {"base_channels": 4}  # default depth 8, tiny width: fast on CPU


@pytest.mark.parametrize("size", [(512, 512), (500, 500), (481, 321)])
@pytest.mark.parametrize("batch", [1, 3])
def test_generator_output_shape_any_size(size, batch):
    g = build_generator(model_cfg(generator=SMALL_G))
    gray = natural_gray(*size, batch=batch)
    for mode in (True, False):  # train mode with batch 1 must not trip batch norm either
        g.train(mode)
        out = g(gray, rect_mask(gray))
        assert out.shape == (batch, 3, *size)
        assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize(
    "options",
    [
        {"upsample": "resize", "bottleneck_blocks": 2},
        {"mask_channel": False, "head": "rgb", "norm": "instance"},
        {"depth": 5, "norm": "none", "pad_mode": "replicate", "dropout": 0.0},
    ],
)
def test_generator_options_shapes(options):
    g = build_generator(model_cfg(generator={**SMALL_G, **options}))
    gray = natural_gray(100, 70, batch=2)  # smaller than 2**depth: reflect falls back to replicate
    assert g(gray, rect_mask(gray)).shape == (2, 3, 100, 70)


def test_generator_options_change_the_network():
    base = build_generator(model_cfg(generator=SMALL_G))
    resize = build_generator(model_cfg(generator={**SMALL_G, "upsample": "resize", "bottleneck_blocks": 1}))
    no_mask = build_generator(model_cfg(generator={**SMALL_G, "mask_channel": False}))
    assert any(isinstance(m, nn.ConvTranspose2d) for m in base.modules())
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in resize.modules())
    assert any(isinstance(m, nn.Upsample) for m in resize.modules())
    assert base.net.downs[0][0].in_channels == 2 and no_mask.net.downs[0][0].in_channels == 1


def luma_errors(out: torch.Tensor, gray: torch.Tensor, mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """|PIL L(8-bit output) - input| on every pixel outside the mask (of every image), and which of
    those pixels have a channel at 0 or 255 (saturated: chroma brought into gamut, or clipped)."""
    rgb8 = to_uint8(out.detach())
    gray8 = (gray[:, 0].numpy() * 255).round().astype(np.int16)
    outside = mask[:, 0].numpy() == 0
    saturated = ((rgb8 == 0) | (rgb8 == 255)).any(axis=-1)
    err = np.abs(np.stack([pil_luma(image) for image in rgb8]).astype(np.int16) - gray8)
    return err[outside], saturated[outside]


@pytest.mark.parametrize(
    "train, init",
    [
        (True, {"type": "normal"}),  # the default init; in eval mode its output is nearly gray, too easy
        (True, {"type": "xavier", "gain": 0.5}),
        (False, {"type": "xavier", "gain": 0.5}),
        (False, {"type": "xavier", "gain": 1.0}),
    ],
)
def test_luma_composite_keeps_input_luminance_outside_mask(train, init):
    # the xavier inits give an untrained net vivid, varied colours, so the guarantee is really stressed
    g = build_generator(model_cfg(generator={"base_channels": 8, "depth": 5}, init=init)).train(train)
    gray = natural_gray(96, 80, seed=1)
    mask = rect_mask(gray)
    out = g(gray, mask)
    err, _ = luma_errors(out, gray, mask)
    assert (out.amax(1) - out.amin(1)).mean() > 0.01, "a gray output would pass trivially"
    assert err.max() <= 1  # every pixel, saturated ones included


def test_rgb_head_has_no_luminance_guarantee():
    """The check above can fail: the plain head does not preserve the input's luminance."""
    cfg = model_cfg(generator={"base_channels": 8, "depth": 5, "head": "rgb"}, init={"type": "kaiming"})
    gray = natural_gray(96, 80, seed=1)
    mask = rect_mask(gray)
    err, _ = luma_errors(build_generator(cfg)(gray, mask), gray, mask)
    assert err.max() > 1


def test_eval_mode_is_deterministic_and_train_mode_uses_dropout():
    g = build_generator(model_cfg(generator={**SMALL_G, "depth": 5, "dropout": 0.5}))
    gray = natural_gray(64, 64, batch=2)
    mask = rect_mask(gray)
    g.eval()
    with torch.no_grad():
        assert torch.equal(g(gray, mask), g(gray, mask))
        g.train()
        assert not torch.equal(g(gray, mask), g(gray, mask))
    assert sum(isinstance(m, nn.Dropout) for m in g.modules()) == 3


@pytest.mark.parametrize("generator", [{"base_channels": 8, "depth": 5, "dropout": 0.0},
                                       {"type": "smp_unet", "encoder_weights": "none", "base_channels": 64, "depth": 8,
                                        "decoder_channels": [32, 24, 16, 16, 8]}])
def test_hole_blur_smooths_the_hole_in_eval_only(generator: dict) -> None:
    """hole_blur: in eval mode the hole is the Gaussian blur of the sharp prediction, known pixels are untouched;
    train mode (what the losses see) is unchanged."""
    from kornia.filters import gaussian_blur2d

    gray = natural_gray(64, 64, seed=3)
    mask = rect_mask(gray)
    plain = build_generator(model_cfg(generator=generator)).eval()
    blurred = build_generator(model_cfg(generator={**generator, "hole_blur": 1.5})).eval()
    blurred.load_state_dict(plain.state_dict())
    with torch.no_grad():
        sharp, soft = plain(gray, mask), blurred(gray, mask)
        hole = mask.expand_as(sharp) > 0.5
        assert torch.equal(soft[~hole], sharp[~hole])
        expected = gaussian_blur2d(sharp, (11, 11), (1.5, 1.5), border_type="reflect")
        assert torch.allclose(soft[hole], expected[hole], atol=1e-6)
        inner = (slice(None), slice(None), slice(20, 28), slice(25, 38))  # well inside the 16..32 x 21..42 hole

        def roughness(x: torch.Tensor) -> float:
            return float((x[inner][..., 1:] - x[inner][..., :-1]).abs().mean())

        assert roughness(soft) < 0.8 * roughness(sharp)
        blurred.train(), plain.train()
        assert torch.equal(blurred(gray, mask), plain(gray, mask))


def test_negative_hole_blur_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="hole_blur"):
        model_cfg(generator={"hole_blur": -1.0})


def test_gray_snap_makes_unsaturated_pixels_exactly_gray_in_eval_only():
    cfg = {"base_channels": 8, "depth": 5, "dropout": 0.0}  # train-mode outputs comparable
    gray = natural_gray(64, 64, seed=2)
    mask = rect_mask(gray)
    plain = build_generator(model_cfg(generator=cfg)).eval()
    snapped = build_generator(model_cfg(generator={**cfg, "gray_snap": 0.1})).eval()
    snapped.load_state_dict(plain.state_dict())
    with torch.no_grad():
        before, after = plain(gray, mask), snapped(gray, mask)
        sat = (before.amax(1) - before.amin(1)) / before.amax(1).clamp_min(1e-8)
        low = sat < 0.1
        assert 0 < low.float().mean() < 1, "need both snapped and kept pixels"
        assert torch.equal(after[:, 0][low], after[:, 1][low]) and torch.equal(after[:, 1][low], after[:, 2][low])
        assert torch.equal(after.permute(1, 0, 2, 3)[:, ~low], before.permute(1, 0, 2, 3)[:, ~low])
        assert torch.allclose(after[:, 0][low], luma(before)[:, 0][low], atol=1e-6)
        snapped.train()
        assert torch.equal(snapped(gray, mask), plain.train()(gray, mask))
    err, _ = luma_errors(after, gray, mask)
    assert err.max() <= 1, "snapping must keep the luminance guarantee"


def test_discriminator_returns_features_then_logits_per_scale():
    d = build_discriminator(model_cfg(discriminator={"base_channels": 8}))
    gray, rgb = torch.rand(3, 1, 256, 256), torch.rand(3, 3, 256, 256)
    out = d(gray, rgb)
    assert len(out) == 1 and len(out[0]) == 5  # 3 strided + 1 stride-1 feature blocks, then logits
    assert [f.shape[1] for f in out[0]] == [8, 16, 32, 64, 1]
    assert out[0][-1].shape == (3, 1, 30, 30)  # pix2pix: 30x30 patches at 256


@pytest.mark.parametrize("n_layers, expected", [(3, 70), (2, 34)])
def test_discriminator_receptive_field(n_layers, expected):
    assert receptive_field(n_layers) == expected
    d = build_discriminator(model_cfg(discriminator={"base_channels": 4, "n_layers": n_layers, "norm": "none"}))
    gray = torch.rand(1, 1, 160, 160, requires_grad=True)
    rgb = torch.rand(1, 3, 160, 160, requires_grad=True)
    logits = d(gray, rgb)[0][-1]
    logits[0, 0, logits.shape[2] // 2, logits.shape[3] // 2].backward()
    touched = (gray.grad.abs() + rgb.grad.abs().sum(1, keepdim=True))[0, 0] > 0
    rows, cols = touched.any(1).nonzero(), touched.any(0).nonzero()
    assert rows.max() - rows.min() + 1 == expected
    assert cols.max() - cols.min() + 1 == expected


def test_discriminator_multi_scale_has_own_weights_and_half_size():
    d = build_discriminator(model_cfg(discriminator={"base_channels": 4, "num_scales": 2}))
    out = d(torch.rand(2, 1, 128, 128), torch.rand(2, 3, 128, 128))
    assert len(out) == 2
    assert out[0][-1].shape[-1] == 14 and out[1][-1].shape[-1] == 6  # 128 -> 14 logits; 64 -> 6
    assert d.scales[0].blocks[0][0].weight.data_ptr() != d.scales[1].blocks[0][0].weight.data_ptr()


def test_discriminator_spectral_norm_bounds_every_conv():
    d = build_discriminator(model_cfg(discriminator={"base_channels": 8, "spectral_norm": True, "norm": "none"}))
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5 and all(hasattr(m, "parametrizations") for m in convs)
    d.eval()
    for conv in convs:
        sigma = torch.linalg.matrix_norm(conv.weight.flatten(1), ord=2)
        assert 0.9 < sigma.item() < 1.1
        # the init (N(0, 0.02)) reached the raw weight underneath the parametrisation
        assert abs(conv.parametrizations.weight.original.std().item() - 0.02) < 0.005
    out = d(torch.rand(1, 1, 64, 64), torch.rand(1, 3, 64, 64))
    assert out[0][-1].shape[1] == 1


@pytest.mark.parametrize(
    "init, expected_std",
    [
        ({"type": "normal", "gain": 0.02}, lambda fi, fo: 0.02),
        ({"type": "xavier", "gain": 1.0}, lambda fi, fo: (2 / (fi + fo)) ** 0.5),
        ({"type": "kaiming"}, lambda fi, fo: (2 / fi) ** 0.5),
    ],
)
def test_init_options(init, expected_std):
    d = build_discriminator(model_cfg(discriminator={"base_channels": 16}, init=init))
    conv = d.scales[0].blocks[2][0]  # 32 -> 64 channels, 4x4: enough weights for a stable std
    fan_in, fan_out = conv.in_channels * 16, conv.out_channels * 16
    assert conv.weight.std().item() == pytest.approx(expected_std(fan_in, fan_out), rel=0.1)
    bn = d.scales[0].blocks[2][1]
    gain = init.get("gain", 0.02)  # pix2pix: norm scales ~ N(1, gain) for every init type
    assert isinstance(bn, nn.BatchNorm2d) and bn.weight.mean().item() == pytest.approx(1.0, abs=gain)
    assert bn.weight.std().item() == pytest.approx(gain, rel=0.3)
    assert torch.all(bn.bias == 0)


def test_unknown_type_is_a_config_error_listing_registered_names():
    with pytest.raises(ConfigError) as err:
        model_cfg(generator={"type": "resnet9"})
    assert err.value.key == "model.generator.type"
    assert "'resnet9'" in str(err.value) and "unet" in str(err.value)
    with pytest.raises(ConfigError, match="model.discriminator.type.*patchgan"):
        model_cfg(discriminator={"type": "unet"})


def test_registry_checks_the_keyword_arguments(monkeypatch):
    class OnlyDepth(nn.Module):
        def __init__(self, depth: int) -> None:
            super().__init__()

    monkeypatch.setitem(registry._REGISTRY["generator"], "only_depth", OnlyDepth)
    model_cfg(generator={"type": "only_depth"})  # options of other types at their defaults are not passed
    with pytest.raises(ConfigError) as err:
        model_cfg(generator={"type": "only_depth", "base_channels": 32})
    assert err.value.key == "model.generator.base_channels"
    assert "only_depth" in str(err.value)
    cfg = ModelConfig()
    cfg.generator.type = "nope"  # changed after loading: the builder checks again
    with pytest.raises(ConfigError, match="model.generator.type"):
        build_generator(cfg)


def test_mask_net_disabled_by_default_and_any_size_when_enabled():
    assert build_mask_net(ModelConfig()) is None
    m = build_mask_net(model_cfg(mask_net={"enabled": True, "base_channels": 4}))
    for size, batch in [((481, 321), 3), ((500, 500), 1)]:
        logits = m(natural_gray(*size, batch=batch))
        assert logits.shape == (batch, 1, *size)
        assert torch.isfinite(logits).all()


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_concat_channels_matches_torch_cat_with_dense_gradients(layout):
    from models.layers import concat_channels

    a = torch.randn(2, 3, 5, 6).contiguous(memory_format=layout).requires_grad_(True)
    b = torch.randn(2, 4, 5, 6).contiguous(memory_format=layout).requires_grad_(True)
    weight = torch.randn(2, 7, 5, 6)
    out = concat_channels(a, b)
    assert torch.equal(out, torch.cat([a, b], dim=1))
    (out * weight).sum().backward()
    assert torch.equal(a.grad, weight[:, :3]) and torch.equal(b.grad, weight[:, 3:])
    grad = torch.randn(2, 7, 5, 6).contiguous(memory_format=layout)
    ga, gb = torch.autograd.grad(concat_channels(a, b), (a, b), grad)
    assert ga.is_contiguous(memory_format=layout) and gb.is_contiguous(memory_format=layout)
    # what torch.cat hands back in channels_last: strided views, the slow case for BatchNorm
    if layout == torch.channels_last:
        gb_cat = torch.autograd.grad(torch.cat([a, b], dim=1), (a, b), grad)[1]
        assert not gb_cat.is_contiguous(memory_format=layout)
