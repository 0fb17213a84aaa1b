"""loss.lost_ssim: 1 - the score's SSIM_lost, with gradients; the same number as the metric."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from losses.combined import GeneratorLoss
from losses.config import LossConfig
from losses.lost_ssim import LostSSIMLoss
from metrics.competition import score_image
from trainers.config import load_config
from utils.color import ycbcr_to_rgb_in_gamut
from utils.errors import ChromaFillError


def textured(rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """HxWx3 uint8: smooth colour ramps plus noise, so SSIM's windows see structure."""
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([np.sin(6 * x + c) * np.cos(4 * y - c) for c in (0.0, 1.0, 2.0)], -1) * 80 + 128
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def ellipse_mask(size: int, cy: int, cx: int, ry: int, rx: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255


def test_equals_the_metric_image_by_image_and_averages_over_the_batch() -> None:
    rng = np.random.default_rng(0)
    gts = [textured(rng) for _ in range(3)]
    preds = [np.clip(g.astype(int) + rng.integers(-40, 40, g.shape), 0, 255).astype(np.uint8) for g in gts]
    masks = [ellipse_mask(48, 20, 25, 9, 14), np.zeros((48, 48), bool), ellipse_mask(48, 30, 12, 6, 5)]
    masks[1][5:17, 30:44] = True  # a rectangle
    expected = [score_image(g, p, m)["ssim_lost"] for g, p, m in zip(gts, preds, masks)]
    loss = LostSSIMLoss()
    mask_t = torch.from_numpy(np.stack(masks)).unsqueeze(1).float()
    for i in range(3):
        one = loss(to_tensor(preds[i:i + 1]), to_tensor(gts[i:i + 1]), mask_t[i:i + 1])
        assert float(one) == pytest.approx(1 - expected[i], abs=2e-5)
    batch = loss(to_tensor(preds), to_tensor(gts), mask_t)
    assert float(batch) == pytest.approx(1 - np.mean(expected), abs=2e-5)


def test_gradients_only_in_the_hole_and_a_step_along_them_raises_ssim_lost() -> None:
    rng = np.random.default_rng(1)
    gt = to_tensor([textured(rng)])
    mask = torch.from_numpy(ellipse_mask(48, 24, 24, 10, 12)).view(1, 1, 48, 48).float()
    pred = (gt + 0.15 * torch.randn_like(gt)).clamp(0, 1).requires_grad_()
    loss = LostSSIMLoss()
    before = loss(pred, gt, mask)
    before.backward()
    assert pred.grad is not None
    assert torch.count_nonzero(pred.grad * (1 - mask)) == 0
    assert torch.count_nonzero(pred.grad * mask) > 0
    after = loss((pred - 0.5 * pred.grad).detach(), gt, mask)
    assert float(after) < float(before.detach())


def test_holes_under_the_window_are_left_out_and_an_all_tiny_batch_gives_zero() -> None:
    gt = torch.rand(2, 3, 16, 16)
    pred = torch.rand(2, 3, 16, 16, requires_grad=True)
    mask = torch.zeros(2, 1, 16, 16)
    mask[0, 0, 2, 2:8] = 1  # 6 lost pixels: fewer than the 7-pixel window
    mask[1, 0, 4:12, 4:12] = 1
    both = LostSSIMLoss()(pred, gt, mask)
    second = LostSSIMLoss()(pred[1:], gt[1:], mask[1:])
    assert float(both) == pytest.approx(float(second))
    mask[1] = 0
    zero = LostSSIMLoss()(pred, gt, mask)
    zero.backward()
    assert float(zero) == 0.0 and pred.grad is not None and float(pred.grad.abs().sum()) == 0.0


def test_the_config_switches_it_on_and_it_enters_the_total() -> None:
    cfg = LossConfig()
    cfg.lost_ssim.weight = 3.0
    g_loss = GeneratorLoss(cfg)
    pred, target = torch.rand(2, 3, 24, 24), torch.rand(2, 3, 24, 24)
    mask = torch.zeros(2, 1, 24, 24)
    mask[:, :, 6:14, 5:19] = 1
    total, terms = g_loss(pred, target, mask, d_fake=[[torch.zeros(2, 1, 2, 2)]])
    assert float(terms["lost_ssim"]) == pytest.approx(3.0 * float(LostSSIMLoss()(pred, target, mask)))
    assert float(total) == pytest.approx(float(sum(terms.values())), rel=1e-6)
    assert "lost_ssim" not in GeneratorLoss(LossConfig())(pred, target, mask, d_fake=[[torch.zeros(2, 1, 2, 2)]])[1]


def test_a_negative_weight_is_refused_naming_the_key() -> None:
    with pytest.raises(ChromaFillError, match=r"loss\.lost_ssim\.weight: got -1\.0, expected a value >= 0"):
        load_config("configs/smoke.yaml", ["loss.lost_ssim.weight=-1"])


def y_and_chroma_grads(chroma_share: float) -> tuple[float, torch.Tensor, torch.Tensor]:
    """The loss and its gradients to Y and (Cb, Cr), RGB built as the luma_composite heads build it."""
    torch.manual_seed(3)
    y = (0.2 + 0.6 * torch.rand(1, 1, 24, 24)).requires_grad_()
    chroma = (0.5 + 0.05 * torch.randn(1, 2, 24, 24)).requires_grad_()
    target = torch.rand(1, 3, 24, 24)
    mask = torch.zeros(1, 1, 24, 24)
    mask[:, :, 5:18, 4:20] = 1
    value = LostSSIMLoss(chroma_share)(ycbcr_to_rgb_in_gamut(y, chroma), target, mask)
    value.backward()
    assert y.grad is not None and chroma.grad is not None
    return float(value), y.grad, chroma.grad


def test_chroma_share_scales_only_the_colour_gradient_and_keeps_the_value() -> None:
    whole_value, whole_y, whole_chroma = y_and_chroma_grads(1.0)
    quarter_value, quarter_y, quarter_chroma = y_and_chroma_grads(0.25)
    luma_value, luma_y, luma_chroma = y_and_chroma_grads(0.0)
    assert whole_value == quarter_value == luma_value
    assert float(whole_chroma.abs().max()) > 1e-3  # the colour is trained when the share is whole
    torch.testing.assert_close(quarter_y, whole_y, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(luma_y, whole_y, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(quarter_chroma, 0.25 * whole_chroma, rtol=1e-4, atol=1e-8)
    assert float(luma_chroma.abs().max()) < 1e-6 * float(whole_chroma.abs().max())


def test_luma_weight_adds_a_luminance_only_share_to_the_term() -> None:
    cfg = LossConfig()
    cfg.lost_ssim.weight, cfg.lost_ssim.luma_weight = 10.0, 20.0
    g_loss = GeneratorLoss(cfg)
    assert g_loss.lost_ssim is not None and g_loss.lost_ssim.chroma_share == pytest.approx(1 / 3)
    pred, target = torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24)
    mask = torch.zeros(1, 1, 24, 24)
    mask[:, :, 6:14, 5:19] = 1
    _, terms = g_loss(pred, target, mask, d_fake=[[torch.zeros(1, 1, 2, 2)]])
    assert float(terms["lost_ssim"]) == pytest.approx(30.0 * float(LostSSIMLoss()(pred, target, mask)))
    cfg.lost_ssim.weight = 0.0  # luminance alone
    only_luma = GeneratorLoss(cfg).lost_ssim
    assert only_luma is not None and only_luma.chroma_share == 0.0


def test_a_negative_luma_weight_or_share_is_refused() -> None:
    with pytest.raises(ChromaFillError, match=r"loss\.lost_ssim\.luma_weight: got -2\.0, expected a value >= 0"):
        load_config("configs/smoke.yaml", ["loss.lost_ssim.luma_weight=-2"])
    with pytest.raises(ValueError, match="chroma_share must be in"):
        LostSSIMLoss(1.5)
