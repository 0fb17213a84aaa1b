"""score_batch (torch and OpenCV paths) against the exact skimage/OpenCV score."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from metrics.competition import score_image
from metrics.torch_score import opencv_hue, score_batch, to_uint8


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Four 96x128 cases: noisy blur, flat prediction, a 5-pixel hole, no hole; float predictions."""
    rng = np.random.default_rng(1)
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket()]
    gts = [cv2.resize(p, (128, 96), interpolation=cv2.INTER_AREA) for p in photos]
    preds = [np.clip(cv2.GaussianBlur(g, (5, 5), 0) / 255 + rng.normal(0, 0.05, g.shape), 0, 1) for g in gts]
    preds[1] = np.full(gts[1].shape, 0.5)
    masks = np.zeros((4, 96, 128), bool)
    masks[0, 20:60, 30:90] = True
    masks[1, 10:50, 10:40] = True
    masks[2, 7, 3:8] = True
    pred = torch.from_numpy(np.stack(preds)).permute(0, 3, 1, 2).float()
    return pred, to_tensor(gts), torch.from_numpy(masks)[:, None]


def exact_rows(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> list[dict[str, float]]:
    preds, gts = to_uint8(pred), to_uint8(target)
    return [score_image(g, p, m[0].numpy()) for g, p, m in zip(gts, preds, mask)]


@pytest.mark.parametrize("backend", ["torch", "opencv", "auto"])
def test_score_batch_agrees_with_exact_metric(batch, backend):
    rows = score_batch(*batch, backend=backend)
    expected = exact_rows(*batch)
    assert len(rows) == 4
    for row, exact in zip(rows, expected):
        assert set(row) == {"score", "ssim_full", "ssim_lost", "hist", "psnr"}
        for key, value in exact.items():
            assert row[key] == pytest.approx(value, abs=1e-7, nan_ok=True), key
    assert math.isnan(rows[2]["ssim_lost"]) and math.isnan(rows[3]["ssim_lost"])
    assert rows[1]["ssim_full"] == 0.0  # constant prediction


def test_float_mask_is_thresholded(batch):
    pred, target, mask = batch
    as_float = score_batch(pred, target, mask.float(), backend="torch")
    np.testing.assert_equal(as_float, score_batch(pred, target, mask, backend="torch"))  # NaN == NaN here


def test_identical_images_score_one_on_torch_path(batch):
    _, target, mask = batch
    for row in score_batch(target, target.clone(), mask, backend="torch"):
        assert row["ssim_full"] == pytest.approx(1.0) and row["hist"] == pytest.approx(1.0)


def test_hue_is_opencvs_on_random_colours():
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    rgb[:8] = rng.integers(0, 256, (8, 64, 1), dtype=np.uint8)  # gray pixels: hue 0
    expected = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 0]
    levels = torch.from_numpy(rgb).permute(2, 0, 1)[None].double()
    np.testing.assert_array_equal(opencv_hue(levels)[0].numpy(), expected)


def test_shape_errors(batch):
    pred, target, mask = batch
    with pytest.raises(ValueError, match="Bx3xHxW"):
        score_batch(pred[:, :2], target[:, :2], mask)
    with pytest.raises(ValueError, match="mask"):
        score_batch(pred, target, mask[:, :, 1:])
