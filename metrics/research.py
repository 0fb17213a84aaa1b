"""The per-image metrics that colourisation and inpainting papers report, beside the competition score.

All on 8-bit RGB with a fixed data range of 255 (the papers' convention; the competition's SSIM
uses the prediction's own range instead), over the whole image and over the lost region:

* ``psnr`` (in the competition row) / ``psnr_hole``: ``skimage.metrics.peak_signal_noise_ratio``
  with ``data_range=255`` over every pixel and channel / over the lost pixels only (the N x 3
  array ``gt[mask]``), capped at 100 dB so that a perfect match stays a finite JSON number.
* ``ssim`` / ``ssim_hole``: ``skimage.metrics.structural_similarity`` with Wang et al.'s (2004)
  settings: 11-tap Gaussian window (sigma 1.5), population covariance, ``data_range=255``, per
  RGB channel and averaged. ``ssim`` is skimage's mean (the 5-pixel border, where the window does
  not fit, left out); ``ssim_hole`` is the mean of the same SSIM map over the lost pixels, i.e. of
  the windows centred in the hole, so it also sees how the fill meets its surroundings (at the
  image border the map uses skimage's reflected padding). Images under 11 pixels on a side get NaN.
* ``cf_pred``, ``cf_gt``, ``cf_diff``: Hasler-Süsstrunk colourfulness (metrics/colourfulness.py) of
  the prediction and the ground truth, and ``cf_pred - cf_gt`` (negative: washed out). Averaged
  over a set, ``|mean cf_diff|`` is DDColor's ΔCF (the difference of the mean colourfulness).

Metrics of a lost region with no pixels are NaN (not measurable), and means skip them.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.metrics import structural_similarity

from metrics.colourfulness import colourfulness
from metrics.competition import psnr

KEYS = ("psnr_hole", "ssim", "ssim_hole", "cf_pred", "cf_gt", "cf_diff")
DATA_RANGE = 255.0
GAUSSIAN_SIGMA = 1.5
WINDOW = 11  # the 11-tap window skimage builds from sigma 1.5 (truncate 3.5)


def wang_ssim(gt: np.ndarray, pred: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(mean SSIM of the image, mean of its SSIM map over `mask`) with Wang et al.'s settings."""
    if min(gt.shape[:2]) < WINDOW:
        return math.nan, math.nan
    mean, ssim_map = structural_similarity(
        gt, pred, channel_axis=-1, data_range=DATA_RANGE, gaussian_weights=True, sigma=GAUSSIAN_SIGMA,
        use_sample_covariance=False, full=True,
    )
    hole = float(ssim_map[mask].mean()) if mask.any() else math.nan
    return float(mean), hole


def research_terms(gt: np.ndarray, pred: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The KEYS for one HxWx3 uint8 pair and its HxW bool lost region (shapes checked by the caller)."""
    ssim, ssim_hole = wang_ssim(gt, pred, mask)
    cf_pred, cf_gt = colourfulness(pred), colourfulness(gt)
    return {
        "psnr_hole": psnr(gt[mask], pred[mask]) if mask.any() else math.nan,
        "ssim": ssim,
        "ssim_hole": ssim_hole,
        "cf_pred": cf_pred,
        "cf_gt": cf_gt,
        "cf_diff": cf_pred - cf_gt,
    }
