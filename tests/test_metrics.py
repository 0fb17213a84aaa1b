"""The exact competition score (metrics.competition), its fast CPU twin, and the area split."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import skimage.data
from skimage.metrics import structural_similarity

from metrics.by_area import split_by_area
from metrics.competition import hist_term, lost_mask, mean_scores, score_image
from metrics.fast_score import fast_score_image
from utils.color import pil_luma


def hue_wheel(h: int = 96, w: int = 128) -> np.ndarray:
    """A fully saturated image whose hue sweeps every OpenCV bin: maximally colourful."""
    hsv = np.zeros((h, w, 3), np.uint8)
    hsv[..., 0] = (np.arange(w) * 180 // w)[None, :]
    hsv[..., 1] = 255
    hsv[..., 2] = (np.linspace(120, 255, h)[:, None]).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A real photo crop, a blurred noisy 'prediction' and a rectangular lost region."""
    gt = skimage.data.astronaut()[100:260, 150:350].copy()
    rng = np.random.default_rng(0)
    pred = cv2.GaussianBlur(gt, (7, 7), 0).astype(np.int16) + rng.integers(-15, 16, gt.shape)
    mask = np.zeros(gt.shape[:2], bool)
    mask[40:90, 60:140] = True
    return gt, np.clip(pred, 0, 255).astype(np.uint8), mask


def test_identical_images_score_one(pair):
    gt, _, mask = pair
    row = score_image(gt, gt.copy(), mask)
    assert row["ssim_full"] == pytest.approx(1.0, abs=1e-12)
    assert row["ssim_lost"] == pytest.approx(1.0, abs=1e-12)
    assert row["hist"] == pytest.approx(1.0, abs=1e-12)
    assert row["score"] == pytest.approx(1.0, abs=1e-12)
    assert row["psnr"] == 100.0


def test_matches_direct_skimage_and_opencv_calls(pair):
    gt, pred, mask = pair
    data_range = pred.max() - pred.min()
    full = structural_similarity(gt, pred, channel_axis=-1, data_range=data_range)
    lost = structural_similarity(gt[mask], pred[mask], channel_axis=-1, data_range=data_range)
    hists = []
    for image in (gt, pred):
        h = cv2.calcHist([cv2.cvtColor(image, cv2.COLOR_RGB2HSV)], [0], None, [180], [0, 180])
        hists.append(cv2.normalize(h, h).flatten())
    hist = cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_CORREL)
    mse = np.mean((gt.astype(float) - pred.astype(float)) ** 2)
    row = score_image(gt, pred, mask)
    assert row["ssim_full"] == full
    assert row["ssim_lost"] == lost
    assert row["hist"] == hist
    assert row["score"] == pytest.approx(0.2 * full + 0.4 * lost + 0.4 * hist, abs=1e-12)
    assert row["psnr"] == pytest.approx(10 * np.log10(255**2 / mse))
    assert 0.3 < full < 0.95 and 0.3 < hist < 1.0  # a plausible, not degenerate, case


def test_gray_prediction_has_no_hue_match_on_a_colourful_image():
    gt = hue_wheel()
    gray = np.repeat(pil_luma(gt)[..., None], 3, axis=2)
    assert abs(hist_term(gt, gray)) < 0.05  # every gray pixel lands in bin 0 (red)
    assert hist_term(gt, gt) == pytest.approx(1.0)


def test_constant_prediction_scores_zero_ssim_not_nan(pair):
    gt, _, mask = pair
    flat = np.full_like(gt, 128)
    row = score_image(gt, flat, mask)
    assert row["ssim_full"] == 0.0 and row["ssim_lost"] == 0.0
    assert math.isfinite(row["score"]) and row["score"] == pytest.approx(0.4 * row["hist"])


def test_constant_prediction_of_a_constant_image_is_perfect():
    flat = np.full((20, 20, 3), 77, np.uint8)
    row = score_image(flat, flat.copy(), np.ones((20, 20), bool))
    assert row["ssim_full"] == 1.0 and row["ssim_lost"] == 1.0 and row["score"] == pytest.approx(1.0)


@pytest.mark.parametrize("lost_pixels", [0, 1, 6])
def test_lost_region_under_seven_pixels_drops_the_term(pair, lost_pixels):
    gt, pred, _ = pair
    mask = np.zeros(gt.shape[:2], bool)
    mask.flat[:lost_pixels] = True
    row = score_image(gt, pred, mask)
    assert math.isnan(row["ssim_lost"])
    assert row["score"] == pytest.approx((0.2 * row["ssim_full"] + 0.4 * row["hist"]) / 0.6)


def test_seven_lost_pixels_are_scored_with_skimage(pair):
    gt, pred, _ = pair
    mask = np.zeros(gt.shape[:2], bool)
    mask[5, 10:17] = True
    expected = structural_similarity(gt[mask], pred[mask], channel_axis=-1, data_range=pred.max() - pred.min())
    assert score_image(gt, pred, mask)["ssim_lost"] == expected


def test_lost_mask_is_where_input_differs_from_pil_luma(pair):
    gt, _, _ = pair
    damage = np.zeros(gt.shape[:2], bool)
    damage[10:30, 20:50] = True
    gray = pil_luma(gt)
    damaged = gray.copy()
    damaged[damage] = 40
    expected = damage & (gray != 40)  # a pixel whose luma equals the fill is indistinguishable
    assert expected.sum() > 500
    np.testing.assert_array_equal(lost_mask(damaged, gt), expected)
    with pytest.raises(ValueError, match="shape"):
        lost_mask(damaged[1:], gt)


def test_bad_shapes_are_rejected(pair):
    gt, pred, mask = pair
    with pytest.raises(ValueError, match="pred shape"):
        score_image(gt, pred[1:], mask)
    with pytest.raises(ValueError, match="uint8"):
        score_image(gt, pred.astype(np.float32), mask)
    with pytest.raises(ValueError, match="mask"):
        score_image(gt, pred, mask.astype(np.uint8))


def test_mean_scores_skips_unmeasurable_terms():
    rows = [
        {"score": 0.5, "ssim_full": 0.6, "ssim_lost": math.nan, "hist": 0.2, "psnr": 20.0},
        {"score": 0.7, "ssim_full": 0.8, "ssim_lost": 0.4, "hist": 0.4, "psnr": 30.0},
    ]
    means = mean_scores(rows)
    assert means == pytest.approx({"score": 0.6, "ssim_full": 0.7, "ssim_lost": 0.4, "hist": 0.3, "psnr": 25.0})
    assert mean_scores([]) == {}


@pytest.mark.parametrize("case", ["noisy", "flat", "tiny", "empty", "identical"])
def test_fast_cpu_path_equals_skimage(pair, case):
    gt, pred, mask = pair
    if case == "flat":
        pred = np.full_like(gt, 9)
    elif case == "tiny":
        mask = np.zeros_like(mask)
        mask[3, 3:6] = True
    elif case == "empty":
        mask = np.zeros_like(mask)
    elif case == "identical":
        pred = gt.copy()
    exact, fast = score_image(gt, pred, mask), fast_score_image(gt, pred, mask)
    for key, value in exact.items():
        assert fast[key] == pytest.approx(value, abs=1e-9, nan_ok=True), key


def test_split_by_area_terciles():
    names = [f"im{i}" for i in range(7)]
    areas = {name: 0.01 * (7 - i) for i, name in enumerate(names)}  # im6 smallest
    rows = {name: {"score": areas[name] * 10, "ssim_full": 1.0, "ssim_lost": 1.0, "hist": 1.0, "psnr": 30.0}
            for name in names}
    groups = split_by_area(rows, areas)
    assert list(groups) == ["small", "medium", "large"]
    assert [g["count"] for g in groups.values()] == [3, 2, 2]
    assert groups["small"]["area_min"] == pytest.approx(0.01) and groups["small"]["area_max"] == pytest.approx(0.03)
    assert groups["large"]["score"] == pytest.approx(0.65)
    assert list(split_by_area({"a": rows["im0"]}, {"a": 0.1})) == ["small"]
