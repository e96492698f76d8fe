"""Inception Score (IS) of generated images, with the IS of real images as its baseline.

IS = exp( E_x KL( p(y|x) || p(y) ) ): high when each image gets a confident class (low entropy
of p(y|x)) and the classes are evenly used (high entropy of the marginal p(y)). It lies between
1 (every image gets the same class distribution) and the number of classes K (confident,
evenly spread predictions). SAGE (Table I) reports it for two classes (so 1..2); the StyleGAN2
brain-MR paper reports it next to the IS of real images of the same classes (baseline 2.6 vs
generator 2.4 for three classes), because the raw number means little without that baseline:
a classifier that is unsure on *real* images caps the score of any generator. Use
:func:`real_baseline` to get both from one classifier.

The classifier is the caller's: a domain network trained on real images of the user's classes
(ImageNet Inception weights cannot be downloaded here, and would not know MR).

Implemented with numpy/scipy rather than torchmetrics' ``InceptionScore``: that class takes
logits only (not probabilities), shuffles with the global torch random generator before
splitting, and returns NaN as the spread when ``splits=1``. Here splits are contiguous chunks in
the given order (as in the original implementation of Salimans et al.), the spread is the
population standard deviation over splits (0 for one split), and the test suite checks the
value against torchmetrics on the same logits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax, xlogy

from .arrays import feature_matrix
from .features import module_outputs


def inception_score(scores, splits: int = 1, *, logits: bool = False) -> tuple[float, float]:
    """(mean, std) of the Inception Score over ``splits`` contiguous chunks of the rows.

    ``scores`` is (N, K): class probabilities (rows sum to 1), or with ``logits=True`` raw
    classifier outputs, turned into probabilities by a softmax. Each split needs at least one
    image; with few images per split the marginal p(y) is poorly estimated and IS is biased low,
    which is why the original protocol used 10 splits of 5,000 images.
    """
    s = feature_matrix(scores, "scores")
    n, k = s.shape
    if k < 2:
        raise ValueError(f"Inception Score needs at least 2 classes; got {k} column(s)")
    if not isinstance(splits, (int, np.integer)) or splits < 1:
        raise ValueError(f"splits must be a positive integer; got {splits!r}")
    if splits > n:
        raise ValueError(f"splits ({splits}) must not exceed the number of images ({n})")
    if logits:
        log_p = log_softmax(s, axis=1)
        p = np.exp(log_p)
    else:
        _check_probabilities(s)
        p = s / s.sum(axis=1, keepdims=True)  # remove rounding drift of float32 softmax outputs
        log_p = None
    values = []
    for idx in np.array_split(np.arange(n), splits):
        part = p[idx]
        marginal = part.mean(axis=0, keepdims=True)
        # xlogy gives 0 * log 0 = 0, so hard one-hot predictions are valid input.
        plogp = xlogy(part, part) if log_p is None else part * log_p[idx]
        kl = (plogp - xlogy(part, marginal)).sum(axis=1)
        values.append(float(np.exp(kl.mean())))
    return float(np.mean(values)), float(np.std(values))


def inception_score_of(module, batches: Iterable, splits: int = 1, device=None) -> tuple[float, float]:
    """IS of the images in ``batches`` as judged by ``module`` (images -> logits, (B, K))."""
    return inception_score(module_outputs(module, batches, device), splits, logits=True)


@dataclass(frozen=True)
class BaselineIS:
    """IS of generated images next to the IS of real images under the same classifier."""

    real_mean: float
    real_std: float
    synthetic_mean: float | None = None
    synthetic_std: float | None = None

    @property
    def ratio(self) -> float | None:
        """Synthetic IS / real IS (the StyleGAN2 paper's "about 90 % of the baseline")."""
        if self.synthetic_mean is None:
            return None
        return self.synthetic_mean / self.real_mean


def real_baseline(module, real_batches: Iterable, synthetic_batches: Iterable | None = None,
                  splits: int = 1, device=None) -> BaselineIS:
    """IS of real images (the baseline) and, if given, of synthetic images, with one classifier.

    Use the same number of real and synthetic images: IS depends on the number per split.
    """
    real = inception_score_of(module, real_batches, splits, device)
    if synthetic_batches is None:
        return BaselineIS(*real)
    return BaselineIS(*real, *inception_score_of(module, synthetic_batches, splits, device))


def _check_probabilities(p: np.ndarray) -> None:
    if (p < 0).any():
        raise ValueError("scores contain negative values: pass logits=True for raw classifier outputs")
    sums = p.sum(axis=1)
    worst = float(np.abs(sums - 1).max())
    if worst > 1e-3:
        raise ValueError(f"rows of scores must sum to 1 (largest deviation {worst:.3g}); "
                         "pass logits=True for raw classifier outputs")
