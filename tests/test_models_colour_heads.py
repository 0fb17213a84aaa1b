"""The colour heads beyond luma_composite: the gray gate and chroma-bin classification (at full and
reduced resolution), their loss, the exact luminance of every Y/Cb/Cr head, their config rules,
and that training, resume, best.pt selection, inference preparation and export work with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from losses.chroma_ce import ChromaClassLoss
from losses.combined import GeneratorLoss
from losses.config import LossConfig
from models.build import build_generator
from models.chroma_bins import ChromaBinsHead, ChromaGrid
from models.config import GeneratorConfig, ModelConfig
from models.heads import OutputHead, luma_composite_head, luma_gate_head
from tests.dacon_fixture import make_dacon_root
from tests.test_models import luma_errors, natural_gray, rect_mask
from trainers.checkpoint import load_checkpoint, save_checkpoint
from trainers.config import config_from_dict, load_config
from trainers.inference import load_generator, prepare_for_inference
from trainers.loop import run_training
from utils import config as cfgio
from utils.color import luma, rgb_to_ycbcr, ycbcr_to_rgb, ycbcr_to_rgb_in_gamut
from utils.config import from_dict
from utils.errors import ChromaFillError

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "smoke.yaml"
BINS = ["model.generator.head=chroma_bins", "loss.chroma_ce.weight=1.0"]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def model_cfg(**sections: dict) -> ModelConfig:
    return from_dict(ModelConfig, sections, "model")


# -- the gate -------------------------------------------------------------------------------------


def gate_raw(batch: int = 2, size: int = 24) -> torch.Tensor:
    raw = torch.randn(batch, 4, size, size) * 1.5
    raw[:, 3, :, : size // 2] = -3.0  # left half: gate closed
    raw[:, 3, :, size // 2:] = 3.0  # right half: open
    return raw


def test_closed_gate_is_exact_gray_and_open_gate_is_the_composite() -> None:
    raw = gate_raw()
    gray = torch.rand(2, 1, 24, 24)
    mask = torch.zeros_like(gray)
    rgb = luma_gate_head(raw, gray, mask)
    closed, opened = rgb[..., :12], rgb[..., 12:]
    assert torch.equal(closed[:, 0], closed[:, 1]) and torch.equal(closed[:, 1], closed[:, 2])
    assert torch.allclose(closed[:, :1], gray[..., :12], atol=1e-6)  # the gray is the input's luminance
    assert torch.allclose(opened, luma_composite_head(raw[:, :3], gray, mask)[..., 12:], atol=1e-6)
    assert (opened.amax(1) - opened.amin(1)).mean() > 0.05  # a test that gray everywhere would fail


def test_closed_gate_still_trains_the_chroma_and_the_gate() -> None:
    raw = gate_raw().requires_grad_(True)
    gray = torch.rand(2, 1, 24, 24)
    target = torch.rand(2, 3, 24, 24)
    (luma_gate_head(raw, gray, torch.zeros_like(gray)) - target).abs().mean().backward()
    closed_grad = raw.grad[:, :, :, :12]
    assert closed_grad[:, 1:3].abs().sum() > 0, "chroma behind a closed gate gets no gradient: it could never reopen"
    assert closed_grad[:, 3].abs().sum() > 0


def test_gate_head_keeps_luminance_outside_the_hole() -> None:
    g = build_generator(model_cfg(generator={"base_channels": 8, "depth": 5, "head": "luma_gate"},
                                  init={"type": "xavier", "gain": 1.0})).eval()
    gray = natural_gray(96, 80, seed=1)
    mask = rect_mask(gray)
    out = g(gray, mask)
    err, _ = luma_errors(out, gray, mask)
    assert err.max() <= 1


# -- exact luminance of every Y/Cb/Cr head --------------------------------------------------------


def saturated_case(raw_channels: int, size: tuple[int, int] = (40, 48)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Strong raw values (tanh and logits near saturation: chroma in the corners of the square, far
    outside the gamut) over a gray that sweeps all 256 levels, with rows at 0, 1/255, 254/255 and 1."""
    h, w = size
    raw = torch.randn(2, raw_channels, h, w) * 4
    levels = torch.arange(h * w).remainder(256).float().view(1, 1, h, w) / 255
    gray = torch.cat([levels, levels.flip(-1)])
    for row, level in enumerate((0, 1, 254, 255)):
        gray[:, :, row] = level / 255
    mask = torch.zeros_like(gray)
    mask[..., 10:20, 12:30] = 1
    return raw, gray, mask


@pytest.mark.parametrize("head", ["luma_composite", "luma_gate", "chroma_bins"])
def test_every_output_pixel_keeps_the_input_luminance_outside_the_hole(head: str) -> None:
    """PIL L of the 8-bit output is the input gray within 1 level on EVERY pixel outside the hole,
    also where the chroma lies outside the gamut at that gray (clamping R, G, B there moved luma by
    up to tens of levels)."""
    output_head = OutputHead(head)
    if output_head.bins is not None:
        with torch.no_grad():
            output_head.bins.classifier.weight.normal_(0, 3)  # confident logits: corner bins
    raw, gray, mask = saturated_case(output_head.raw_channels)
    rgb, _ = output_head(raw, gray, mask)
    err, saturated = luma_errors(rgb, gray, mask)
    assert saturated.mean() > 0.3, "the case must stress the gamut"
    assert err.max() <= 1


def test_gamut_safe_conversion_keeps_luma_and_hue_and_leaves_gamut_colours_alone() -> None:
    y = torch.rand(1, 1, 64, 64)
    y[..., 0, :4] = torch.tensor([0.0, 1.0, 1 / 255, 254 / 255])
    chroma = torch.rand(1, 2, 64, 64)
    rgb = ycbcr_to_rgb_in_gamut(y, chroma)
    assert rgb.min() >= 0 and rgb.max() <= 1
    assert torch.allclose(luma(rgb), y, atol=2e-6)
    plain = ycbcr_to_rgb(torch.cat([y, chroma], dim=1))
    inside = ((plain >= 0) & (plain <= 1)).all(dim=1, keepdim=True)
    assert 0.05 < inside.float().mean() < 0.95
    assert torch.allclose(rgb * inside, plain * inside, atol=1e-6)  # in gamut: unchanged
    # Out of gamut: the same hue (the channel differences scale by one factor k < 1).
    diff_plain, diff = plain - y, rgb - y
    k = (diff * diff_plain).sum(1, keepdim=True) / (diff_plain * diff_plain).sum(1, keepdim=True).clamp_min(1e-12)
    assert torch.allclose(diff, k * diff_plain, atol=1e-5)
    assert (k[~inside] < 1).all() and (k >= 0).all()
    # ... and the largest such k: one channel sits at 0 or 1.
    at_bound = ((rgb <= 1e-6) | (rgb >= 1 - 1e-6)).any(dim=1, keepdim=True)
    assert at_bound[~inside & (y > 0) & (y < 1)].all()


# -- the chroma bins ------------------------------------------------------------------------------


def test_grid_has_gray_as_a_centre() -> None:
    grid = ChromaGrid(11)
    assert grid.count == 121
    assert any(torch.equal(c, torch.tensor([0.5, 0.5])) for c in grid.centres)


def test_soft_targets_reproduce_the_chroma_exactly() -> None:
    grid = ChromaGrid(7)
    chroma = torch.rand(3, 2, 9, 5)
    chroma[0, :, 0, 0] = 1.0  # the upper edge of the grid
    indices, weights = grid.soft_targets(chroma)
    assert torch.allclose(weights.sum(1), torch.ones(3, 9, 5))
    assert (weights >= 0).all() and indices.max() < grid.count
    rebuilt = (grid.centres[indices] * weights.unsqueeze(-1)).sum(1).permute(0, 3, 1, 2)
    assert torch.allclose(rebuilt, chroma, atol=1e-6)


def test_confident_gray_decodes_to_exact_gray_and_temperature_sharpens() -> None:
    head = ChromaBinsHead(11, 0.38, 1)
    logits = torch.zeros(1, 121, 4, 4)
    logits[:, 60] = 30.0  # bin 60 = (5, 5): exact gray
    assert torch.allclose(head.decode(logits), torch.full((1, 2, 4, 4), 0.5), atol=1e-6)
    # A distribution leaning towards a saturated bin: the annealed mean moves from the mean (T=1)
    # towards that bin as T falls.
    leaning = torch.zeros(1, 121, 1, 1)
    leaning[:, 120] = 2.0  # (1, 1): the most saturated corner
    means = [float(ChromaBinsHead(11, t, 1).decode(leaning)[0, 0]) for t in (1.0, 0.38, 0.1)]
    assert means[0] < means[1] < means[2] <= 1.0


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_bins_generator_keeps_luminance_outside_the_hole_and_colours(scale: int) -> None:
    g = build_generator(model_cfg(generator={"base_channels": 8, "depth": 5, "head": "chroma_bins", "chroma_scale": scale},
                                  init={"type": "xavier", "gain": 1.0})).eval()
    with torch.no_grad():  # confident logits: vivid, varied colours that really stress the guarantee
        g.output_head.bins.classifier.weight.mul_(30)
    gray = natural_gray(96, 78, seed=1)
    mask = rect_mask(gray)
    out, logits = g(gray, mask, with_logits=True)
    assert logits.shape == (1, 121, -(-96 // scale), -(-78 // scale))
    assert (out.amax(1) - out.amin(1)).mean() > 0.01
    err, _ = luma_errors(out, gray, mask)
    assert err.max() <= 1
    assert torch.equal(g(gray, mask), out)  # without with_logits: RGB alone, the same RGB


def reference_bins_head(head: ChromaBinsHead, raw: torch.Tensor, gray: torch.Tensor, mask: torch.Tensor,
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """The chroma_bins head written out plainly: block means by reshaping, the classifier as an
    einsum, softmax over classes, the mean of the bin centres, bilinear upsampling, and the gamut
    limit found channel by channel from the plain YCbCr -> RGB conversion."""
    s, t = head.scale, head.temperature
    b, _, hp, wp = raw.shape
    h, w = gray.shape[-2:]
    features = raw[:, 1:].reshape(b, -1, hp // s, s, wp // s, s).mean(dim=(3, 5))
    logits = torch.einsum("kc,bchw->bkhw", head.classifier.weight[:, :, 0, 0], F.silu(features)) + head.classifier.bias.view(1, -1, 1, 1)
    probs = torch.softmax(logits / t, dim=1)
    low = torch.einsum("bkhw,kc->bchw", probs, ChromaGrid(head.grid.bins).centres)
    chroma = F.interpolate(low, scale_factor=s, mode="bilinear", align_corners=False)[..., :h, :w]
    y = (gray + mask * torch.tanh(raw[:, :1, :h, :w])).clamp(0, 1)
    offset = ycbcr_to_rgb(torch.cat([y, chroma], dim=1)) - y
    limits = torch.where(offset > 0, (1 - y) / offset, torch.where(offset < 0, y / -offset, torch.full_like(offset, 1.0)))
    k = limits.amin(dim=1, keepdim=True).clamp(max=1)
    return (y + k * offset).clamp(0, 1), logits[..., :-(-h // s), :-(-w // s)]


@pytest.mark.parametrize("scale", [1, 2, 4])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_bins_head_equals_a_plain_reference(scale: int, layout: torch.memory_format, monkeypatch: pytest.MonkeyPatch) -> None:
    """At every chroma_scale, in both memory layouts, through the whole logits (training, export)
    and the chunked inference decode (chunks of 100 pixels, the last one short), and after the
    inference fold of the temperature: RGB and logits as the plain reference computes them. The
    raw channels are padded beyond gray's size, as the generators hand them over."""
    monkeypatch.setattr("models.chroma_bins.DECODE_CHUNK", 100)
    head = ChromaBinsHead(11, 0.38, scale)
    with torch.no_grad():
        head.classifier.weight.normal_(0, 1)
        head.classifier.bias.normal_(0, 1)
    raw = (torch.randn(2, head.raw_channels, 48, 64) * 2).contiguous(memory_format=layout)
    gray = natural_gray(45, 61, batch=2, seed=3)
    mask = rect_mask(gray)
    want_rgb, want_logits = reference_bins_head(head, raw, gray, mask)
    rgb, logits = head(raw, gray, mask)
    assert rgb.shape == (2, 3, 45, 61) and logits.shape == want_logits.shape
    assert torch.allclose(rgb, want_rgb, atol=1e-5)
    assert torch.allclose(logits, want_logits, atol=1e-5)
    assert (want_rgb.amax(1) - want_rgb.amin(1)).mean() > 0.05  # colourful: a gray output would match trivially
    with torch.no_grad():
        chunked, no_logits = head(raw, gray, mask, with_logits=False)
    assert no_logits is None and torch.allclose(chunked, want_rgb, atol=1e-5)
    head.fold_temperature()
    head.fold_temperature()  # folding twice must not divide twice
    assert torch.allclose(head(raw, gray, mask)[0], want_rgb, atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(head(raw, gray, mask, with_logits=False)[0], want_rgb, atol=1e-5)


@pytest.mark.parametrize("amp", [False, True])
def test_bins_head_inference_runs_no_division_and_no_copy_of_the_class_tensors(amp: bool) -> None:
    """After prepare_for_inference (fp32, and bf16 as infer.py --amp) the bins^2-channel tensors are
    written by the classifier, read by the softmax and the decode, and never divided (temperature
    folded) or copied (layout, dtype)."""
    from torch.profiler import ProfilerActivity, profile

    g = prepare_for_inference(build_generator(model_cfg(generator={"base_channels": 8, "depth": 5, "head": "chroma_bins"})),
                              torch.device("cpu"), amp)
    gray = natural_gray(64, 64, batch=2)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp), \
            profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        g(gray, rect_mask(gray))
    touching = [(e.name, e.input_shapes) for e in prof.events()
                if any(len(shape) >= 2 and 121 in (shape[1], shape[-1]) for shape in e.input_shapes if isinstance(shape, list))]
    assert any("softmax" in name for name, _ in touching)  # the check sees the class tensors at all
    for name, shapes in touching:
        assert "div" not in name, (name, shapes)
        # No layout or dtype copy of a class tensor.
        assert name not in ("aten::_to_copy", "aten::clone", "aten::contiguous"), (name, shapes)
        assert not (name == "aten::copy_" and shapes[0] == shapes[1]), (name, shapes)


def test_centre_weights_live_with_the_head_but_not_in_checkpoints() -> None:
    head = ChromaBinsHead(11, 0.38, 2)
    assert "centres" in dict(head.named_buffers())
    assert not any("centres" in key for key in head.state_dict())
    with torch.device("meta"):
        built_on_meta = ChromaBinsHead(11, 0.38, 2)
    assert built_on_meta.centres.device.type == "cpu" and torch.equal(built_on_meta.centres, head.centres)
    assert torch.equal(head.centres.t(), ChromaGrid(11).centres)


def bins_checkpoint(path: Path, overrides: list[str], drop_scale_key: bool = False) -> Path:
    """A trainer-layout checkpoint of a kaiming-initialised (colourful) chroma_bins generator."""
    config = load_config(SMOKE, ["model.generator.head=chroma_bins", "model.init.type=kaiming", *overrides])
    torch.manual_seed(0)
    generator = build_generator(config.model)
    tree = cfgio.to_dict(config)
    if drop_scale_key:  # a checkpoint from before model.generator.chroma_scale existed
        del tree["model"]["generator"]["chroma_scale"]
    trainer = {"generator": generator.state_dict(), "ema": None, "mask_net": None, "discriminator": None}
    save_checkpoint(path, {"config": tree, "epoch": 0, "global_step": 0, "scores": {}, "trainer": trainer})
    return path


@pytest.mark.parametrize("scale", [1, 4])
def test_meta_device_inference_build_predicts_as_the_trained_generator(scale: int, tmp_path: Path) -> None:
    """infer.py builds the generator on the meta device and assigns the checkpoint's weights: the head's
    constants must exist all the same, and the prepared (folded) generator predicts as the original."""
    path = bins_checkpoint(tmp_path / "best.pt", [f"model.generator.chroma_scale={scale}"])
    config = config_from_dict(load_checkpoint(path)["config"])
    original = build_generator(config.model).eval()
    original.load_state_dict(load_checkpoint(path)["trainer"]["generator"])
    generator, _, _ = load_generator(path, torch.device("cpu"))
    assert generator.output_head.bins.temperature_folded
    gray = natural_gray(45, 70, batch=2, seed=4)
    mask = rect_mask(gray)
    with torch.no_grad():
        want = original(gray, mask)
        assert torch.allclose(generator(gray, mask), want, atol=1e-5)
        assert (want.amax(1) - want.amin(1)).mean() > 0.02
        with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 as infer.py --amp (weights cast separately there)
            assert (generator(gray, mask).float() - want).abs().mean() < 0.02


def test_checkpoint_without_chroma_scale_loads_at_full_resolution(tmp_path: Path) -> None:
    path = bins_checkpoint(tmp_path / "old.pt", [], drop_scale_key=True)
    assert "chroma_scale" not in load_checkpoint(path)["config"]["model"]["generator"]
    generator, config, _ = load_generator(path, torch.device("cpu"))
    assert config.model.generator.chroma_scale == 1 and generator.output_head.bins.scale == 1
    gray = natural_gray(32, 40)
    assert generator(gray, rect_mask(gray)).shape == (1, 3, 32, 40)


def test_untrained_bins_head_starts_at_the_gray_prefill() -> None:
    """The default init gives ~uniform logits, whose annealed mean is the grid's centre: gray."""
    g = build_generator(model_cfg(generator={"base_channels": 8, "depth": 5, "head": "chroma_bins"})).eval()
    gray = natural_gray(64, 64)
    out = g(gray, rect_mask(gray))
    assert (out.amax(1) - out.amin(1)).max() < 2 / 255


# -- the rebalanced cross-entropy -----------------------------------------------------------------


def rgb_of(cb: float, cr: float, size: tuple[int, int] = (8, 8)) -> torch.Tensor:
    from utils.color import ycbcr_to_rgb
    return ycbcr_to_rgb(torch.tensor([0.5, cb, cr]).view(1, 3, 1, 1).expand(1, 3, *size)).clamp(0, 1)


def test_cross_entropy_is_lowest_for_the_target_bins() -> None:
    loss = ChromaClassLoss(11, rebalance=0.5)
    target = rgb_of(0.4, 0.65)
    indices, weights = loss.grid.soft_targets(rgb_to_ycbcr(target)[:, 1:])
    right = torch.full((1, 121, 8, 8), -10.0).scatter(1, indices, torch.log(weights.clamp_min(1e-6)))
    wrong = torch.roll(right, shifts=30, dims=1)
    uniform = torch.zeros(1, 121, 8, 8)
    values = [float(loss(x, target)) for x in (right, uniform, wrong)]
    assert values[0] < values[1] < values[2]


def test_rare_colours_weigh_more_and_lambda_one_turns_rebalancing_off() -> None:
    common = rgb_of(0.5, 0.5, (8, 8))
    rare = rgb_of(0.2, 0.8, (8, 8))
    target = torch.cat([common[..., :7], rare[..., :1]], dim=-1)  # 7 gray columns, 1 vivid column
    loss = ChromaClassLoss(11, rebalance=0.5)
    indices, weights = loss.grid.soft_targets(rgb_to_ycbcr(target)[:, 1:])
    pixel = loss.pixel_weights(indices, weights)
    assert float(pixel[..., 7].mean()) > 2 * float(pixel[..., :7].mean())
    assert float(pixel.mean()) == pytest.approx(1.0, rel=0.05)  # normalised to a mean weight of 1
    flat = ChromaClassLoss(11, rebalance=1.0).pixel_weights(indices, weights)
    assert torch.equal(flat, torch.ones_like(flat))


def test_generator_loss_adds_the_chroma_term_and_needs_its_logits() -> None:
    cfg = from_dict(LossConfig, {"adversarial": {"weight": 0.0}, "chroma_ce": {"weight": 2.0}}, "loss")
    loss = GeneratorLoss(cfg, GeneratorConfig(head="chroma_bins"))
    assert loss.needs_chroma_logits
    pred = target = torch.rand(1, 3, 16, 16)
    total, terms = loss(pred, target, None, chroma_logits=torch.zeros(1, 121, 16, 16))
    assert float(terms["chroma_ce"]) == pytest.approx(2.0 * np.log(121), rel=0.01)  # uniform logits: 2 ln 121
    with pytest.raises(ValueError, match="chroma_logits"):
        loss(pred, target, None)


@pytest.mark.parametrize("scale", [2, 4])
def test_cross_entropy_at_reduced_resolution_targets_the_block_mean_chroma(scale: int) -> None:
    """Logits at 1/scale resolution (ceil at the edges) are scored against the true chroma averaged
    over the same blocks: for a photo whose chroma is constant within each block, exactly the loss
    of the full-resolution CE on the block image."""
    blocks = ycbcr_to_rgb(torch.cat([torch.full((1, 1, 3, 4), 0.5), torch.rand(1, 2, 3, 4) * 0.4 + 0.3], dim=1))
    target = F.interpolate(blocks, scale_factor=scale, mode="nearest")[..., :3 * scale - 1, :]  # the last row of blocks cut
    logits = torch.randn(1, 121, 3, 4) * 2
    reduced = ChromaClassLoss(11, 0.5, scale)(logits, target)
    # Chroma is linear in RGB, so a cut block's mean is still the block's chroma.
    assert float(reduced) == pytest.approx(float(ChromaClassLoss(11, 0.5, 1)(logits, blocks)), rel=1e-5)
    assert float(reduced) != pytest.approx(float(ChromaClassLoss(11, 0.5, 1)(torch.roll(logits, 1, -1), blocks)), rel=1e-3)
    with pytest.raises(ValueError, match=r"logits of \(3, 4\) pixels .* expected \(2, 2\)"):
        ChromaClassLoss(11, 0.5, scale * 2)(logits, target[..., : 2 * scale * 2, : 2 * scale * 2])


def test_cross_entropy_is_the_same_in_either_memory_layout() -> None:
    loss = ChromaClassLoss(11, 0.5, 2)
    logits, target = torch.randn(2, 121, 5, 6), torch.rand(2, 3, 10, 11)
    assert torch.allclose(loss(logits, target), loss(logits.contiguous(memory_format=torch.channels_last), target))


# -- config rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, key", [
    (["model.generator.head=chroma_bins", "model.generator.chroma_bins=10"], "model.generator.chroma_bins"),
    (["model.generator.chroma_bins=13"], "model.generator.chroma_bins"),  # set while the head is luma_composite
    (["model.generator.chroma_temperature=0.5"], "model.generator.chroma_temperature"),
    (["model.generator.chroma_scale=2"], "model.generator.chroma_scale"),  # set while the head is luma_composite
    (["model.generator.head=chroma_bins", "model.generator.chroma_scale=3"], "model.generator.chroma_scale"),
    (["model.generator.head=chroma_bins", "model.generator.chroma_temperature=0"], "model.generator.chroma_temperature"),
    (["loss.chroma_ce.weight=1.0"], "loss.chroma_ce.weight"),
    (["model.generator.head=chroma_bins", "loss.chroma_ce.rebalance=1.5"], "loss.chroma_ce.rebalance"),
    (["model.generator.head=bins"], "model.generator.head"),
])
def test_bad_colour_options_fail_naming_the_key(overrides: list[str], key: str) -> None:
    with pytest.raises(ChromaFillError, match=key.replace(".", r"\.")):
        load_config(SMOKE, overrides)


def test_output_head_channels() -> None:
    assert [OutputHead(h).raw_channels for h in ("rgb", "luma_composite", "luma_gate")] == [3, 3, 4]
    assert OutputHead("chroma_bins", 13).bins.grid.count == 169
    defaults = OutputHead("chroma_bins").bins  # the config's defaults, not literals of its own
    assert (defaults.grid.bins, defaults.temperature, defaults.scale) == (
        GeneratorConfig.chroma_bins, GeneratorConfig.chroma_temperature, GeneratorConfig.chroma_scale)


# -- training with the heads ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def dacon_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dacon_root(tmp_path_factory.mktemp("dacon"))


def smoke(root: Path, out: Path, *overrides: str):
    return load_config(SMOKE, [f"data.root={root}", f"experiment.output_dir={out}", "train.log_every_steps=1", *overrides])


def val_scores(run_dir: Path) -> list[float]:
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return [e.value for e in events.Scalars("val/score")]


def test_bins_run_resumes_bit_exact_and_keeps_the_selection_window(dacon_root: Path, tmp_path: Path) -> None:
    common = ("train.deterministic=true", "train.scheduler.type=constant", "train.validation.select_window=2", *BINS)
    straight = smoke(dacon_root, tmp_path / "a", "train.epochs=3", *common)
    assert run_training(straight) == 0
    assert run_training(smoke(dacon_root, tmp_path / "b", "train.epochs=2", *common)) == 0
    resumed = smoke(dacon_root, tmp_path / "b", "train.epochs=3", *common)
    assert run_training(resumed, resume="auto") == 0
    a, b = (load_checkpoint(c.experiment.run_dir / "last.pt") for c in (straight, resumed))
    for key, value in a["trainer"]["generator"].items():
        assert torch.equal(value, b["trainer"]["generator"][key]), key
    assert any("output_head.bins.classifier" in k for k in a["trainer"]["generator"])
    assert a["recent_scores"] == b["recent_scores"] and len(a["recent_scores"]) == 2
    assert a["best_score"] == b["best_score"]
    # best_score is the best mean of 2 consecutive validations; the first score alone never competes.
    # One validation image has no standard error, so the comparison is strict.
    scores = val_scores(straight.experiment.run_dir)
    windows = [(x + y) / 2 for x, y in zip(scores, scores[1:])]
    assert a["best_score"] == pytest.approx(max(windows))
    best = load_checkpoint(straight.experiment.run_dir / "best.pt")
    assert best["epoch"] == (3 if windows[1] >= windows[0] else 2)


def test_trainer_logs_the_chroma_term_and_the_selection_score(dacon_root: Path, tmp_path: Path) -> None:
    """At chroma_scale 2: the trainer's cross-entropy gets reduced-resolution logits and their target."""
    config = smoke(dacon_root, tmp_path, "train.epochs=2", "train.validation.select_window=3", *BINS,
                   "model.generator.chroma_scale=2")
    assert run_training(config) == 0
    events = EventAccumulator(str(config.experiment.run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/g_chroma_ce", "val/select_score"} <= tags
    assert all(np.isfinite(e.value) and e.value > 0 for e in events.Scalars("loss/g_chroma_ce"))


def test_gate_run_trains_end_to_end(dacon_root: Path, tmp_path: Path) -> None:
    config = smoke(dacon_root, tmp_path, "model.generator.head=luma_gate")
    assert run_training(config) == 0
    assert (config.experiment.run_dir / "best.pt").is_file()


def test_full_resolution_bins_checkpoint_fine_tunes_at_reduced_resolution_in_bf16(
        dacon_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--load-from: the head's weights do not depend on chroma_scale, so a chroma_scale 1 run's best.pt
    starts a chroma_scale 2 run, here under bf16 autocast (the cross-entropy on float32 logits)."""
    first = smoke(dacon_root, tmp_path / "a", "train.epochs=1", "train.test.enabled=false", *BINS)
    assert run_training(first) == 0
    capsys.readouterr()
    second = smoke(dacon_root, tmp_path / "b", "train.epochs=1", "train.test.enabled=false", "train.amp=bf16", *BINS,
                   "model.generator.chroma_scale=2")
    assert run_training(second, load_from=str(first.experiment.run_dir / "best.pt")) == 0
    assert "loaded weights (generator (EMA weights)" in capsys.readouterr().err
    events = EventAccumulator(str(second.experiment.run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    assert all(np.isfinite(e.value) and e.value > 0 for e in events.Scalars("loss/g_chroma_ce"))
