"""Fréchet distance between Gaussian fits of two feature sets: the FID formula, on any features.

    FID = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))

with mu and S the mean and (unbiased) covariance of each set's features, as pytorch-fid and
torchmetrics compute it; Tr((S_a S_b)^(1/2)) is the sum of the square roots of the eigenvalues of
S_a S_b (real and non-negative for two covariance matrices, up to rounding). Kept apart from the
Inception network (metrics/perceptual_extra.py) so that the formula is tested on features whose
distance is known in closed form. With fewer images than feature dimensions the covariances are
rank-deficient and FID is biased upwards: compare FIDs of equally sized sets only.
"""

from __future__ import annotations

import math

import numpy as np


def gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, unbiased covariance) of an N x d array of features, in float64."""
    features = np.asarray(features, np.float64)
    return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


def frechet_distance(mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray) -> float:
    """The squared Fréchet (2-Wasserstein) distance between N(mu_a, cov_a) and N(mu_b, cov_b)."""
    mean_term = float(np.sum((mu_a - mu_b) ** 2))
    root_eigenvalues = np.sqrt(np.linalg.eigvals(cov_a @ cov_b).astype(np.complex128)).real
    return mean_term + float(np.trace(cov_a) + np.trace(cov_b) - 2.0 * root_eigenvalues.sum())


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two N x d feature sets; NaN when a set has under 2 images (no covariance)."""
    if len(features_a) < 2 or len(features_b) < 2:
        return math.nan
    return frechet_distance(*gaussian_fit(features_a), *gaussian_fit(features_b))
