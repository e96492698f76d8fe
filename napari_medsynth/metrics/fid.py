"""Fréchet distance between two sets of feature vectors (FID when the features come from a network).

Each set is summarized by a Gaussian (mean mu, covariance S); the distance is

    ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))

which is 0 for identical statistics and grows with shifts of the mean and changes of spread.
The features come from the caller's domain network (:func:`frechet_distance_of`): ImageNet
Inception features are neither available offline nor meaningful for MR, so the numbers are only
comparable between runs that use the same network and layer.

Implemented with numpy/scipy (``scipy.linalg.sqrtm``) rather than torchmetrics'
``FrechetInceptionDistance``, which probes a custom network with a 3-channel 299x299 uint8
image to find its feature size (a one-channel MR classifier fails on that). The tests check the
value against torchmetrics and against the closed form for Gaussians.

Numerics: ``eps`` is added to both covariance diagonals before the matrix square root, which
keeps it defined when a covariance is singular (fewer samples than features, constant features);
small imaginary parts that sqrtm returns for nearly singular products are rounding noise and are
dropped, a large one raises. Rounding can make the distance of a set with itself slightly
negative; it is clipped at 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
from scipy import linalg

from .arrays import feature_matrix
from .features import module_outputs


def frechet_distance(features_a, features_b, eps: float = 1e-6) -> float:
    """Fréchet distance between the Gaussian fits of two (N, D) feature sets.

    Needs at least 2 samples per set. With fewer samples than features the covariance is
    rank-deficient and the distance is biased upwards (a warning says so); compare only values
    computed from equal numbers of samples.
    """
    a = feature_matrix(features_a, "features_a", min_rows=2)
    b = feature_matrix(features_b, "features_b", min_rows=2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    if eps < 0:
        raise ValueError(f"eps must be >= 0; got {eps}")
    if min(len(a), len(b)) <= a.shape[1]:
        warnings.warn(f"{min(len(a), len(b))} samples for {a.shape[1]} features: the covariance is "
                      "rank-deficient and the Fréchet distance is biased; use more samples or fewer features",
                      stacklevel=2)
    return gaussian_frechet_distance(a.mean(axis=0), _cov(a), b.mean(axis=0), _cov(b), eps)


def gaussian_frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, float)), np.atleast_1d(np.asarray(mu2, float))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, float)), np.atleast_2d(np.asarray(sigma2, float))
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"shapes do not match: mu {mu1.shape}/{mu2.shape}, sigma {s1.shape}/{s2.shape}")
    offset = eps * np.eye(d)
    s1, s2 = s1 + offset, s2 + offset
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        raise ValueError("the matrix square root of the covariance product is not finite; "
                         "increase eps or use more samples")
    if np.iscomplexobj(covmean):
        imag = float(np.abs(np.diagonal(covmean).imag).max())
        if imag > 1e-3 * max(1.0, float(np.abs(np.trace(covmean)))):
            raise ValueError(f"the covariance product has a large imaginary square-root part ({imag:.3g}); "
                             "the covariances may not be positive semi-definite")
        covmean = covmean.real
    diff = mu1 - mu2
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean)
    return max(0.0, float(value))


def frechet_distance_of(module, real_batches: Iterable, synthetic_batches: Iterable,
                        eps: float = 1e-6, device=None) -> float:
    """FID of two image sets, with ``module`` mapping images to (B, D) features."""
    return frechet_distance(module_outputs(module, real_batches, device),
                            module_outputs(module, synthetic_batches, device), eps)


def _cov(x: np.ndarray) -> np.ndarray:
    return np.atleast_2d(np.cov(x, rowvar=False))
