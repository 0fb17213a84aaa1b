"""The competition score on the CPU, ~10x faster than skimage and equal to it within 1e-9.

skimage's SSIM spends ~100 ms per 512x512 image in scipy's ``uniform_filter``; OpenCV's
``boxFilter`` computes the same 7x7 window means in a few milliseconds. Everything else (data
range, edge-case rules, HIST, PSNR) is shared with :mod:`metrics.competition`, so only the window
arithmetic is re-implemented here. This is what validation during CPU training uses;
``evaluate.py`` reports the literal skimage figure.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from metrics.competition import SSIM_WINDOW, score_terms

_K1, _K2 = 0.01, 0.03
_PAD = (SSIM_WINDOW - 1) // 2


def _means_2d(image: np.ndarray) -> np.ndarray:
    """Mean of each full 7x7 window of an HxWxC float64 image (skimage crops the 3-pixel border)."""
    window = (SSIM_WINDOW, SSIM_WINDOW)
    means = cv2.boxFilter(image, cv2.CV_64F, window, normalize=True, borderType=cv2.BORDER_REFLECT)
    return means.reshape(image.shape)[_PAD:-_PAD, _PAD:-_PAD]


def _means_1d(samples: np.ndarray) -> np.ndarray:
    """Mean of each full 7-sample window along axis 0 of an N x C float64 array."""
    return sliding_window_view(samples, SSIM_WINDOW, axis=0).mean(axis=-1)


def opencv_ssim(gt: np.ndarray, pred: np.ndarray, data_range: float) -> float:
    """skimage's ``structural_similarity(gt, pred, channel_axis=-1, data_range=...)`` (uniform
    window, sample covariance) for HxWx3 images or N x 3 pixel lists."""
    x, y = gt.astype(np.float64), pred.astype(np.float64)
    means = _means_2d if x.ndim == 3 else _means_1d
    n = SSIM_WINDOW ** (x.ndim - 1)
    cov_norm = n / (n - 1)
    ux, uy = means(x), means(y)
    vx = cov_norm * (means(x * x) - ux * ux)
    vy = cov_norm * (means(y * y) - uy * uy)
    vxy = cov_norm * (means(x * y) - ux * uy)
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s.mean())


def fast_score_image(gt: np.ndarray, pred: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """:func:`metrics.competition.score_image` with the OpenCV window means."""
    return score_terms(gt, pred, mask, opencv_ssim)
