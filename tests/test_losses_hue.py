"""The soft hue-histogram loss against the exact competition HIST (OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage import data
from torch import Tensor

from losses.hue_hist import HueHistogramLoss, soft_hue_histogram


def cv2_hist(gt: np.ndarray, pred: np.ndarray) -> float:
    """The score's HIST: correlation of normalised 180-bin OpenCV hue histograms of uint8 RGB images."""
    hists = []
    for image in (gt, pred):
        hist = cv2.calcHist([cv2.cvtColor(image, cv2.COLOR_RGB2HSV)], [0], None, [180], [0, 180])
        hists.append(cv2.normalize(hist, hist).flatten())
    return float(cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_CORREL))


def to_tensor(image: np.ndarray) -> Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0


def to_uint8(image: Tensor) -> np.ndarray:
    return (image[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()


def variants(gt: np.ndarray) -> dict[str, np.ndarray]:
    """Predictions from good to bad: faint right tint, shifted hues, a gray copy, a noisy tint."""
    hsv = cv2.cvtColor(gt, cv2.COLOR_RGB2HSV).astype(np.int32)
    gray = cv2.cvtColor(cv2.cvtColor(gt, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    out = {}
    for name, hue_shift, sat_scale in [("faint_right", 0, 0.4), ("shift_10", 5, 1.0), ("shift_60", 30, 1.0), ("shift_180", 90, 1.0)]:
        moved = hsv.copy()
        moved[..., 0] = (moved[..., 0] + hue_shift) % 180
        moved[..., 1] = (moved[..., 1] * sat_scale).astype(np.int32)
        out[name] = cv2.cvtColor(moved.astype(np.uint8), cv2.COLOR_HSV2RGB)
    rng = np.random.default_rng(0)
    out["gray"] = gray
    out["noisy_tint"] = np.clip(gray.astype(int) + rng.integers(-6, 7, gt.shape), 0, 255).astype(np.uint8)
    return out


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [cv2.resize(img, (96, 96), interpolation=cv2.INTER_AREA) for img in (data.astronaut(), data.coffee(), data.chelsea())]


def test_soft_histogram_matches_opencv_on_quantised_pixels(photos: list[np.ndarray]) -> None:
    for photo in photos:
        hist = cv2.calcHist([cv2.cvtColor(photo, cv2.COLOR_RGB2HSV)], [0], None, [180], [0, 180]).flatten()
        soft = soft_hue_histogram(to_tensor(photo))[0].numpy()
        assert soft.sum() == pytest.approx(1.0, abs=1e-5)
        assert np.corrcoef(soft, hist)[0, 1] > 0.97


def test_exactly_gray_pixels_land_in_bin_zero_like_opencv() -> None:
    gray = torch.full((1, 3, 8, 8), 0.4)
    hist = soft_hue_histogram(gray)[0]
    assert hist[0].item() == pytest.approx(1.0) and hist[1:].abs().sum().item() == 0.0
    faint_blue = gray.clone()
    faint_blue[:, 2] += 0.5 / 255  # half a level of chroma: half gray, half blue (bin 120)
    hist = soft_hue_histogram(faint_blue, gray_tolerance=1.0)[0]
    assert hist[0].item() == pytest.approx(0.5, abs=1e-3) and hist[120].item() == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("sigma_bins", [0.0, 1.0])
def test_loss_orders_predictions_like_one_minus_cv2_hist(photos: list[np.ndarray], sigma_bins: float) -> None:
    loss_fn = HueHistogramLoss(gray_tolerance=1.0, sigma_bins=sigma_bins)
    losses, exact = [], []
    for photo in photos:
        for name, pred in variants(photo).items():
            losses.append(loss_fn(to_tensor(pred), to_tensor(photo)).item())
            exact.append(1.0 - cv2_hist(photo, pred))
        faint = variants(photo)["faint_right"]
        wrong = variants(photo)["shift_60"]
        assert loss_fn(to_tensor(faint), to_tensor(photo)) < loss_fn(to_tensor(wrong), to_tensor(photo))
    if sigma_bins == 0:  # unsmoothed, it is the exact HIST up to soft binning of the hue
        assert np.abs(np.array(losses) - np.array(exact)).max() < 0.05
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    assert np.corrcoef(rank(losses), rank(exact))[0, 1] > 0.85


def test_gradient_descent_on_the_loss_raises_the_exact_hist(photos: list[np.ndarray]) -> None:
    """The point of the loss: minimising it should improve the competition's HIST.

    (An exactly gray start gets no hue gradient: gray has no hue; the pixel terms move it.)
    """
    gt = photos[0]
    start = variants(gt)["shift_60"]
    pred = to_tensor(start).requires_grad_(True)
    optimiser = torch.optim.Adam([pred], lr=0.01)
    loss_fn = HueHistogramLoss(sigma_bins=2.0)
    for _ in range(60):
        optimiser.zero_grad()
        loss_fn(pred.clamp(0, 1), to_tensor(gt)).backward()
        optimiser.step()
    assert cv2_hist(gt, to_uint8(pred.detach())) > cv2_hist(gt, start) + 0.1


def test_gradients_stay_finite_on_nearly_gray_and_bfloat16_inputs() -> None:
    target = torch.rand(2, 3, 16, 16)
    pred = (torch.full((2, 3, 16, 16), 0.5) + 1e-6 * torch.randn(2, 3, 16, 16)).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = HueHistogramLoss()(pred, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()
