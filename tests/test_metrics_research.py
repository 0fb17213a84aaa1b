"""The research metrics (PSNR/SSIM on image and hole, colourfulness) and the FID formula, in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from metrics.colourfulness import colourfulness
from metrics.competition import score_image
from metrics.fid import fid, frechet_distance, gaussian_fit
from metrics.research import KEYS, research_terms


def flat(colour: tuple[int, int, int], h: int = 24, w: int = 32) -> np.ndarray:
    return np.tile(np.array(colour, np.uint8), (h, w, 1))


def box_mask(h: int = 24, w: int = 32) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[6:18, 8:24] = True
    return mask


def test_identical_images():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (24, 32, 3)).astype(np.uint8)
    row = research_terms(gt, gt.copy(), box_mask())
    assert set(row) == set(KEYS)
    assert row["ssim"] == pytest.approx(1.0, abs=1e-12) and row["ssim_hole"] == pytest.approx(1.0, abs=1e-12)
    assert row["psnr_hole"] == 100.0 and row["cf_diff"] == 0.0 and row["cf_pred"] == row["cf_gt"] > 0


@pytest.mark.parametrize("k", [1, 5, 40])
def test_psnr_of_a_constant_error_of_k_levels(k):
    gt = flat((100, 150, 60))
    row = score_image(gt, gt + np.uint8(k), box_mask())
    assert row["psnr"] == pytest.approx(20 * math.log10(255 / k), abs=1e-9)
    assert research_terms(gt, gt + np.uint8(k), box_mask())["psnr_hole"] == pytest.approx(20 * math.log10(255 / k))


def test_psnr_hole_sees_only_the_hole():
    rng = np.random.default_rng(1)
    gt = rng.integers(20, 200, (24, 32, 3)).astype(np.uint8)
    mask = box_mask()
    pred = gt.copy()
    pred[mask] += 10  # error 10 inside
    pred[0, :] += 30  # and 30 on a row outside the hole
    assert research_terms(gt, pred, mask)["psnr_hole"] == pytest.approx(20 * math.log10(25.5))


def test_wang_ssim_of_a_constant_offset_uses_the_fixed_range_255():
    """Every window constant: SSIM = (2 g (g + d) + C1) / (g^2 + (g + d)^2 + C1), C1 = (0.01 * 255)^2,
    whatever the window's shape or weights; the competition's SSIM would use the prediction's range."""
    colour, d = (180, 120, 60), 15
    gt = flat(colour)
    c1 = (0.01 * 255) ** 2
    expected = np.mean([(2 * g * (g + d) + c1) / (g * g + (g + d) ** 2 + c1) for g in colour])
    row = research_terms(gt, gt + np.uint8(d), box_mask())
    assert row["ssim"] == pytest.approx(expected, abs=1e-12)
    assert row["ssim_hole"] == pytest.approx(expected, abs=1e-12)
    assert score_image(gt, gt + np.uint8(d), box_mask())["ssim_full"] < expected  # range 120, not 255


def test_ssim_hole_is_the_ssim_map_over_windows_centred_in_the_hole():
    """A change more than the Gaussian window's radius (5 px) away from the hole leaves ssim_hole at 1;
    the same change inside the hole lowers it below the whole image's SSIM."""
    rng = np.random.default_rng(2)
    gt = rng.integers(40, 200, (40, 48, 3)).astype(np.uint8)
    mask = np.zeros((40, 48), bool)
    mask[15:25, 18:30] = True
    far = gt.copy()
    far[:9, :] = 255 - far[:9, :]  # rows 0..8; windows centred in the hole reach rows 10..29
    row = research_terms(gt, far, mask)
    assert row["ssim_hole"] == pytest.approx(1.0, abs=1e-12) and row["ssim"] < 0.95
    inside = gt.copy()
    inside[mask] = 255 - inside[mask]
    row = research_terms(gt, inside, mask)
    assert row["ssim_hole"] < row["ssim"] < 1.0


def test_empty_hole_and_tiny_images_are_not_measurable():
    gt = flat((10, 20, 30))
    row = research_terms(gt, gt.copy(), np.zeros((24, 32), bool))
    assert math.isnan(row["psnr_hole"]) and math.isnan(row["ssim_hole"]) and row["ssim"] == pytest.approx(1.0)
    small = flat((10, 20, 30), 10, 32)  # under the 11-pixel window
    row = research_terms(small, small.copy(), np.ones((10, 32), bool))
    assert math.isnan(row["ssim"]) and math.isnan(row["ssim_hole"])


def test_colourfulness_of_a_two_colour_image_by_hand():
    """Half red (255, 0, 0), half blue (0, 0, 255): rg = 255 | 0, yb = 127.5 | -255; two equal halves
    have std |a - b| / 2 and mean (a + b) / 2."""
    image = np.concatenate([flat((255, 0, 0), 8, 8), flat((0, 0, 255), 8, 8)], axis=1)
    std_rg, mean_rg = 127.5, 127.5
    std_yb, mean_yb = (127.5 + 255) / 2, (127.5 - 255) / 2
    expected = math.sqrt(std_rg**2 + std_yb**2) + 0.3 * math.sqrt(mean_rg**2 + mean_yb**2)
    assert colourfulness(image) == pytest.approx(expected, abs=1e-9)
    assert colourfulness(flat((255, 0, 0))) == pytest.approx(0.3 * math.hypot(255, 127.5))  # no spread


def test_colourfulness_of_gray_is_zero_and_the_difference_is_signed():
    rng = np.random.default_rng(3)
    gray = np.repeat(rng.integers(0, 256, (24, 32, 1)), 3, axis=2).astype(np.uint8)
    assert colourfulness(gray) == 0.0
    colour = rng.integers(0, 256, (24, 32, 3)).astype(np.uint8)
    row = research_terms(colour, gray, box_mask())
    assert row["cf_pred"] == 0.0 and row["cf_diff"] == pytest.approx(-row["cf_gt"]) and row["cf_gt"] > 20


def test_frechet_distance_of_diagonal_gaussians():
    """Commuting (diagonal) covariances: |mu_a - mu_b|^2 + sum (sqrt a_i - sqrt b_i)^2."""
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var_a, var_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 5.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0.0
    assert frechet_distance(mu_a, np.diag(var_a), mu_b, np.diag(var_b)) == pytest.approx(expected, abs=1e-12)


def test_fid_of_shifted_and_scaled_random_features():
    """b = a + c: same covariance, FID = |c|^2. b = s a: FID = (1 - s)^2 (|mu|^2 + tr S)."""
    rng = np.random.default_rng(4)
    a = rng.normal(size=(60, 5)) @ rng.normal(size=(5, 5)) + rng.normal(size=5)
    shift = np.array([0.5, -1.0, 0.0, 2.0, 0.25])
    assert fid(a, a + shift) == pytest.approx(np.sum(shift**2), abs=1e-9)
    mu, cov = gaussian_fit(a)
    s = 1.7
    assert fid(a, s * a) == pytest.approx((1 - s) ** 2 * (mu @ mu + np.trace(cov)), rel=1e-9)
    assert fid(a, a) == pytest.approx(0.0, abs=1e-9)


def test_fid_matches_the_matrix_square_root_form():
    """General (non-commuting) covariances against pytorch-fid's form, Tr sqrtm(S_a S_b) by scipy."""
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(80, 6)), rng.normal(size=(70, 6)) @ rng.normal(size=(6, 6))
    (mu_a, cov_a), (mu_b, cov_b) = gaussian_fit(a), gaussian_fit(b)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    expected = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root)
    assert fid(a, b) == pytest.approx(expected, rel=1e-9)
    assert math.isnan(fid(a[:1], b))
