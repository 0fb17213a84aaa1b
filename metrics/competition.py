"""The DACON competition score, computed exactly as the organisers' baseline does.

    score = 0.2 * SSIM_full + 0.4 * SSIM_lost + 0.4 * HIST

* SSIM_full: ``skimage.metrics.structural_similarity(gt, pred, channel_axis=-1,
  data_range=pred.max() - pred.min())`` on the HxWx3 uint8 images.
* SSIM_lost: the same call on ``gt[mask], pred[mask]``, N x 3 arrays, so skimage runs a 1-D SSIM
  (a 7-sample window) along the lost pixels in row-major order, per channel. The data range is the
  FULL prediction's ``pred.max() - pred.min()``, as in the organisers' ``masked_ssim_score`` (it
  receives the whole images and the mask).
* HIST: OpenCV 8-bit RGB->HSV, 180-bin histogram of H over every pixel, ``cv2.normalize``
  (L2), ``cv2.compareHist(..., HISTCMP_CORREL)``.

Edge cases the baseline does not handle and that a real run can meet, decided here:

* constant prediction (data range 0): skimage divides 0 by 0 and returns NaN, which would poison
  a mean. Such an SSIM term is 1.0 if the compared pixels equal the ground truth exactly, else 0.0
  (a flat prediction carries no structure).
* fewer than 7 lost pixels (none included): the 1-D window does not fit, skimage raises. SSIM_lost
  is then NaN ("not measurable") and the image's score is renormalised over the two remaining
  terms, ``(0.2 * SSIM_full + 0.4 * HIST) / 0.6``; means skip NaN. Competition images always have
  1 %..13 % lost, so this never changes a competition figure.
* PSNR of identical images is capped at 100 dB so that it stays a finite, JSON-safe number.
"""

from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from utils.color import pil_luma

WEIGHTS = {"ssim_full": 0.2, "ssim_lost": 0.4, "hist": 0.4}
SSIM_WINDOW = 7  # skimage's default win_size (uniform filter, no Gaussian weights)
PSNR_CAP_DB = 100.0
KEYS = ("score", "ssim_full", "ssim_lost", "hist", "psnr")
HUE_BINS = 180


def lost_mask(gray_input: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """The true lost region of a training pair: where the input differs from PIL's L of gt."""
    if gray_input.shape != gt.shape[:2]:
        raise ValueError(f"input shape {gray_input.shape} does not match gt shape {gt.shape[:2]}")
    return gray_input != pil_luma(gt)


SsimFn = Callable[[np.ndarray, np.ndarray, float], float]


def skimage_ssim(gt: np.ndarray, pred: np.ndarray, data_range: float) -> float:
    """The organisers' call: HxWx3 images, or N x 3 lost pixels for the 1-D SSIM."""
    return float(structural_similarity(gt, pred, channel_axis=-1, data_range=data_range))


def ssim_term(gt: np.ndarray, pred: np.ndarray, data_range: float, ssim: SsimFn = skimage_ssim) -> float:
    """SSIM with channel_axis=-1, NaN-free when the data range is 0 (see module doc)."""
    if data_range == 0:
        return 1.0 if np.array_equal(gt, pred) else 0.0
    return ssim(gt, pred, data_range)


def hue_histogram(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's L2-normalised 180-bin histogram of the 8-bit hue (0..179) of an RGB uint8 image."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0], None, [HUE_BINS], [0, HUE_BINS])
    return cv2.normalize(hist, hist).flatten()


def hist_term(gt: np.ndarray, pred: np.ndarray) -> float:
    """Correlation of the hue histograms (OpenCV returns 1.0 when a histogram is flat)."""
    return float(cv2.compareHist(hue_histogram(gt), hue_histogram(pred), cv2.HISTCMP_CORREL))


def psnr(gt: np.ndarray, pred: np.ndarray) -> float:
    """skimage's PSNR in dB over all given pixels and channels, for 8-bit data, capped at 100 dB."""
    if np.array_equal(gt, pred):
        return PSNR_CAP_DB  # skimage divides by a zero error here
    return min(PSNR_CAP_DB, float(peak_signal_noise_ratio(gt, pred, data_range=255)))


def combine(ssim_full: float, ssim_lost: float, hist: float) -> float:
    """The weighted score; a NaN SSIM_lost drops out and the other weights are renormalised."""
    if math.isnan(ssim_lost):
        return (WEIGHTS["ssim_full"] * ssim_full + WEIGHTS["hist"] * hist) / (
            WEIGHTS["ssim_full"] + WEIGHTS["hist"]
        )
    return WEIGHTS["ssim_full"] * ssim_full + WEIGHTS["ssim_lost"] * ssim_lost + WEIGHTS["hist"] * hist


def _check(gt: np.ndarray, pred: np.ndarray, mask: np.ndarray) -> None:
    for name, image in (("gt", gt), ("pred", pred)):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"{name}: expected HxWx3 uint8, got shape {image.shape} dtype {image.dtype}")
    if gt.shape != pred.shape:
        raise ValueError(f"pred shape {pred.shape} does not match gt shape {gt.shape}")
    if mask.shape != gt.shape[:2] or mask.dtype != np.bool_:
        raise ValueError(f"mask: expected HxW bool {gt.shape[:2]}, got shape {mask.shape} dtype {mask.dtype}")


def score_image(gt: np.ndarray, pred: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """All terms for one image: keys score, ssim_full, ssim_lost (NaN if < 7 lost pixels), hist, psnr."""
    return score_terms(gt, pred, mask, skimage_ssim)


def score_terms(gt: np.ndarray, pred: np.ndarray, mask: np.ndarray, ssim: SsimFn) -> dict[str, float]:
    """:func:`score_image` with the SSIM implementation as a parameter (for the fast CPU path)."""
    _check(gt, pred, mask)
    data_range = float(pred.max()) - float(pred.min())
    ssim_full = ssim_term(gt, pred, data_range, ssim)
    lost_gt, lost_pred = gt[mask], pred[mask]
    if len(lost_gt) < SSIM_WINDOW:
        ssim_lost = math.nan
    else:
        ssim_lost = ssim_term(lost_gt, lost_pred, data_range, ssim)
    hist = hist_term(gt, pred)
    return {
        "score": combine(ssim_full, ssim_lost, hist),
        "ssim_full": ssim_full,
        "ssim_lost": ssim_lost,
        "hist": hist,
        "psnr": psnr(gt, pred),
    }


def mean_scores(rows: list[dict[str, float]], keys: tuple[str, ...] = KEYS) -> dict[str, float]:
    """Mean of each key over the rows, skipping NaN (an unmeasurable term); NaN if none is left."""
    if not rows:
        return {}
    means = {}
    for key in keys:
        values = [row[key] for row in rows if not math.isnan(row[key])]
        means[key] = float(np.mean(values)) if values else math.nan
    return means
