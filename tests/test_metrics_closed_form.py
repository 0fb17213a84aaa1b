"""The competition score and PSNR on cases whose expected values are derived by hand.

The other score tests compare against the same skimage/OpenCV calls the code makes, which cannot
catch a wrong reading of what those calls compute. Here every expected value comes from the
formulas themselves: SSIM of constant windows, Pearson correlation of hand-built hue histograms,
PSNR of a known error. Hues are built in RGB (no cv2 conversion) from OpenCV's 8-bit definition:
for a saturated colour with R = 255, B = 0, H = 30 * G / 255 (half-degrees), so G = 17 k gives
bin 2 k exactly; (0, 255, 17 k) gives bin 60 + 2 k.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from metrics.competition import score_image

BINS = 180
K1, K2 = 0.01, 0.03


def red_yellow(k: int) -> tuple[int, int, int]:
    """The saturated colour in hue bin 2k (k = 0..15)."""
    return 255, 17 * k, 0


def green_cyan(k: int) -> tuple[int, int, int]:
    """The saturated colour in hue bin 60 + 2k."""
    return 0, 255, 17 * k


def flat_blocks(colours: list[tuple[int, int, int]], widths: list[int], height: int = 16) -> np.ndarray:
    """Vertical stripes of flat colours, `widths[i]` columns of `colours[i]`."""
    stripes = [np.tile(np.array(c, np.uint8), (height, w, 1)) for c, w in zip(colours, widths)]
    return np.concatenate(stripes, axis=1)


def pearson(counts_a: dict[int, int], counts_b: dict[int, int]) -> float:
    """OpenCV's HISTCMP_CORREL of two 180-bin histograms given as {bin: count}, in plain arithmetic.

    Correlation ignores the L2 normalisation OpenCV applies first (a positive scale).
    """
    mean_a, mean_b = sum(counts_a.values()) / BINS, sum(counts_b.values()) / BINS
    cross = sum((counts_a.get(b, 0) - mean_a) * (counts_b.get(b, 0) - mean_b) for b in range(BINS))
    var_a = sum((counts_a.get(b, 0) - mean_a) ** 2 for b in range(BINS))
    var_b = sum((counts_b.get(b, 0) - mean_b) ** 2 for b in range(BINS))
    return cross / math.sqrt(var_a * var_b)


def constant_ssim(g: float, d: float, data_range: float) -> float:
    """SSIM of a window where x = g and y = g + d everywhere: the variances and covariance are 0."""
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    return ((2 * g * (g + d) + c1) * c2) / ((g * g + (g + d) ** 2 + c1) * c2)


def test_identical_images_score_one_on_every_term():
    gt = flat_blocks([red_yellow(0), red_yellow(5), green_cyan(3)], [10, 12, 14])
    gt[::3, ::4] = 7  # some texture, so SSIM windows are not constant
    mask = np.zeros(gt.shape[:2], bool)
    mask[4:12, 5:30] = True
    row = score_image(gt, gt.copy(), mask)
    assert row == {"score": 1.0, "ssim_full": 1.0, "ssim_lost": 1.0, "hist": 1.0, "psnr": 100.0}


@pytest.mark.parametrize("shift", [1, 3])
def test_pure_hue_shift_gives_the_hand_computed_histogram_correlation(shift):
    widths = [11, 7, 13, 5]  # pixel columns of each hue, height 16
    gt_ks, base = [0, 1, 2], 3  # bins 0, 2, 4 (red-yellow) and 60 + 2*3 = 66 (green-cyan)
    gt = flat_blocks([*(red_yellow(k) for k in gt_ks), green_cyan(base)], widths)
    pred = flat_blocks([*(red_yellow(k + shift) for k in gt_ks), green_cyan(base + shift)], widths)
    counts_gt = {2 * k: 16 * w for k, w in zip(gt_ks, widths)} | {60 + 2 * base: 16 * widths[3]}
    counts_pred = {2 * (k + shift): 16 * w for k, w in zip(gt_ks, widths)} | {60 + 2 * (base + shift): 16 * widths[3]}
    expected = pearson(counts_gt, counts_pred)
    row = score_image(gt, pred, np.zeros(gt.shape[:2], bool))
    assert row["hist"] == pytest.approx(expected, abs=1e-6)
    if shift == 1:  # bins 2 and 4 of the prediction overlap bins 2 and 4 of the truth: partial match
        assert 0.2 < expected < 0.6
    else:  # disjoint supports: -T^2 / (n Q - T^2), T and Q the sum and sum of squares of the counts
        total, squares = sum(counts_gt.values()), sum(c * c for c in counts_gt.values())
        assert expected == pytest.approx(-total**2 / (BINS * squares - total**2))


@pytest.mark.parametrize("offset", [9, -20])
def test_constant_offset_of_a_flat_colour_image(offset):
    """gt one flat colour, pred = gt + offset: every SSIM window is constant, the hue is unchanged."""
    colour = (180, 120, 60)
    gt = np.tile(np.array(colour, np.uint8), (20, 24, 1))
    pred = (gt.astype(int) + offset).astype(np.uint8)
    mask = np.zeros((20, 24), bool)
    mask[5:15, 4:20] = True
    data_range = max(colour) - min(colour)  # pred.max() - pred.min(): the offset cancels
    expected_ssim = np.mean([constant_ssim(g, offset, data_range) for g in colour])
    row = score_image(gt, pred, mask)
    assert row["ssim_full"] == pytest.approx(expected_ssim, abs=1e-9)
    assert row["ssim_lost"] == pytest.approx(expected_ssim, abs=1e-9)
    assert row["hist"] == pytest.approx(1.0, abs=1e-6)  # R-G, G-B and max-min are unchanged
    assert row["score"] == pytest.approx(0.6 * expected_ssim + 0.4, abs=1e-9)
    assert row["psnr"] == pytest.approx(20 * math.log10(255 / abs(offset)), abs=1e-9)


def test_constant_offset_hole_in_a_textured_image():
    """Only the lost pixels move, by +12 on a flat patch: SSIM_lost is the constant-window formula
    with the FULL prediction's data range; PSNR follows from the error energy."""
    rng = np.random.default_rng(0)
    gt = rng.integers(30, 220, (24, 32, 3)).astype(np.uint8)
    gt[0, 0] = (5, 5, 5)
    gt[0, 1] = (250, 250, 250)  # pred keeps these: its data range is 245
    patch = (100, 150, 80)
    gt[6:18, 8:24] = patch
    mask = np.zeros((24, 32), bool)
    mask[6:18, 8:24] = True
    pred = gt.copy()
    pred[mask] += 12
    row = score_image(gt, pred, mask)
    assert row["ssim_lost"] == pytest.approx(np.mean([constant_ssim(g, 12, 245) for g in patch]), abs=1e-9)
    lost_fraction = mask.mean()
    assert row["psnr"] == pytest.approx(10 * math.log10(255**2 / (144 * lost_fraction)), abs=1e-9)


def test_gray_prediction_of_a_flat_colour_image():
    """A flat gray prediction: data range 0, so both SSIMs are 0 by the module's rule; every gray
    pixel is in hue bin 0 and the truth is one other bin: two unit spikes correlate at -1/(n-1)."""
    gt = np.tile(np.array(green_cyan(4), np.uint8), (16, 16, 1))  # bin 68
    pred = np.full_like(gt, 128)
    row = score_image(gt, pred, np.ones((16, 16), bool))
    assert row["ssim_full"] == 0.0 and row["ssim_lost"] == 0.0
    assert row["hist"] == pytest.approx(-1 / (BINS - 1), abs=1e-6)
    assert row["score"] == pytest.approx(-0.4 / (BINS - 1), abs=1e-6)


def test_gray_prediction_of_a_gray_image_matches_every_hue():
    """Gray against gray: both histograms are one spike in bin 0, a perfect correlation, whatever
    the gray levels; a textured colour truth against gray: the hand formula with one spike."""
    rng = np.random.default_rng(1)
    gray_gt = np.repeat(rng.integers(0, 256, (16, 16, 1)), 3, axis=2).astype(np.uint8)
    gray_pred = np.repeat(rng.integers(0, 256, (16, 16, 1)), 3, axis=2).astype(np.uint8)
    assert score_image(gray_gt, gray_pred, np.zeros((16, 16), bool))["hist"] == pytest.approx(1.0, abs=1e-6)
    widths = [6, 10]
    colour = flat_blocks([red_yellow(3), green_cyan(1)], widths)  # bins 6 and 62
    gray = np.repeat(gray_pred[:, :16, :1], 3, axis=2)
    expected = pearson({6: 16 * 6, 62: 16 * 10}, {0: 256})
    assert score_image(colour, gray, np.zeros((16, 16), bool))["hist"] == pytest.approx(expected, abs=1e-6)
