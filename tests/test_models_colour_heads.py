"""The colour heads beyond luma_composite: the gray gate and chroma-bin classification, their loss,
their config rules, and that training, resume, best.pt selection and export work with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from losses.chroma_ce import ChromaClassLoss
from losses.combined import GeneratorLoss
from losses.config import LossConfig
from models.build import build_generator
from models.chroma_bins import ChromaBinsHead, ChromaGrid
from models.config import ModelConfig
from models.heads import OutputHead, luma_composite_head, luma_gate_head
from tests.dacon_fixture import make_dacon_root
from tests.test_models import luma_errors, natural_gray, rect_mask
from trainers.checkpoint import load_checkpoint
from trainers.config import load_config
from trainers.loop import run_training
from utils.color import rgb_to_ycbcr
from utils.config import from_dict
from utils.errors import ChromaFillError, ConfigError

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
    err, unclipped = luma_errors(out, gray, mask)
    assert unclipped.mean() > 0.6
    assert err[unclipped].max() <= 1


# -- the chroma bins ------------------------------------------------------------------------------


def test_grid_needs_an_odd_count_so_gray_is_a_centre() -> None:
    grid = ChromaGrid(11)
    assert grid.count == 121
    assert any(torch.equal(c, torch.tensor([0.5, 0.5])) for c in grid.centres)
    with pytest.raises(ValueError, match="odd"):
        ChromaGrid(10)


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
    head = ChromaBinsHead(11, 0.38)
    logits = torch.zeros(1, 121, 4, 4)
    logits[:, 60] = 30.0  # bin 60 = (5, 5): exact gray
    assert torch.allclose(head.decode(logits), torch.full((1, 2, 4, 4), 0.5), atol=1e-6)
    # A distribution leaning towards a saturated bin: the annealed mean moves from the mean (T=1)
    # towards that bin as T falls.
    leaning = torch.zeros(1, 121, 1, 1)
    leaning[:, 120] = 2.0  # (1, 1): the most saturated corner
    means = [float(ChromaBinsHead(11, t).decode(leaning)[0, 0]) for t in (1.0, 0.38, 0.1)]
    assert means[0] < means[1] < means[2] <= 1.0


def test_bins_head_keeps_luminance_outside_the_hole_and_colours() -> None:
    g = build_generator(model_cfg(generator={"base_channels": 8, "depth": 5, "head": "chroma_bins"},
                                  init={"type": "xavier", "gain": 1.0})).eval()
    with torch.no_grad():  # confident logits: vivid, varied colours that really stress the guarantee
        g.output_head.bins.classifier.weight.mul_(30)
    gray = natural_gray(96, 80, seed=1)
    mask = rect_mask(gray)
    out, logits = g(gray, mask, with_logits=True)
    assert logits.shape == (1, 121, 96, 80)
    assert (out.amax(1) - out.amin(1)).mean() > 0.01
    err, unclipped = luma_errors(out, gray, mask)
    assert unclipped.mean() > 0.6
    assert err[unclipped].max() <= 1
    assert torch.equal(g(gray, mask), out)  # without with_logits: RGB alone, the same RGB


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
    loss = GeneratorLoss(cfg, chroma_bins=11)
    assert loss.needs_chroma_logits
    pred = target = torch.rand(1, 3, 16, 16)
    total, terms = loss(pred, target, None, chroma_logits=torch.zeros(1, 121, 16, 16))
    assert float(terms["chroma_ce"]) == pytest.approx(2.0 * np.log(121), rel=0.01)  # uniform logits: 2 ln 121
    with pytest.raises(ValueError, match="chroma_logits"):
        loss(pred, target, None)
    with pytest.raises(ConfigError, match="chroma_ce"):
        GeneratorLoss(cfg)


# -- config rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, key", [
    (["model.generator.head=chroma_bins", "model.generator.chroma_bins=10"], "model.generator.chroma_bins"),
    (["model.generator.chroma_bins=13"], "model.generator.chroma_bins"),  # set while the head is luma_composite
    (["model.generator.chroma_temperature=0.5"], "model.generator.chroma_temperature"),
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
    config = smoke(dacon_root, tmp_path, "train.epochs=2", "train.validation.select_window=3", *BINS)
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
