"""Statistics of the machine Turing test (classifier two-sample test, C2ST).

A fresh classifier is trained to tell held-out real images from synthetic ones; on a balanced
test set its accuracy is 0.5 when the two cannot be told apart and 1.0 when they always can.
This module only scores the test predictions (the classifier comes from the training code):
accuracy with a 95% Wilson score interval, and an exact binomial test against 0.5.

The test is one-sided by default (``alternative="greater"``), as in Lopez-Paz & Oquab (2017):
the question is whether the classifier does *better* than chance; an accuracy clearly below
0.5 points to a broken split or label swap, not to realistic images. The reader studies'
scoring uses the same Wilson interval, so human and machine Turing tests read alike.

The 0.5 null assumes equally many real and synthetic test images: with 70 % real images a
classifier that always answers "real" scores 0.7. Unbalanced inputs therefore give a warning,
and ``majority_fraction`` says what always guessing the larger class would score.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..reader_study.scoring import wilson_ci

ALTERNATIVES = ("greater", "two-sided", "less")


@dataclass(frozen=True)
class C2STResult:
    n: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float
    p_value: float
    alternative: str
    majority_fraction: float

    @property
    def distinguishable(self) -> bool:
        """True when the classifier beats chance at the 5 % level (the one-sided test)."""
        return self.alternative == "greater" and self.p_value < 0.05


def c2st_statistics(predictions, labels, *, confidence: float = 0.95,
                    alternative: str = "greater") -> C2STResult:
    """Score classifier ``predictions`` against ``labels`` (1 = real, 0 = synthetic).

    ``predictions`` are 0/1 (or booleans), or probabilities of "real" in [0, 1] that are
    thresholded at 0.5.
    """
    y = _binary(labels, "labels")
    p = np.asarray(predictions)
    if p.shape != y.shape:
        raise ValueError(f"predictions and labels differ in shape: {p.shape} vs {y.shape}")
    p = _predictions(p)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1; got {confidence}")
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}; got {alternative!r}")
    n = int(y.size)
    correct = int((p == y).sum())
    majority = float(max(y.mean(), 1 - y.mean()))
    if majority > 0.55:
        warnings.warn(f"{majority:.0%} of the test images belong to one class: accuracy 0.5 is not "
                      "chance level here; balance the test set", stacklevel=2)
    low, high = wilson_ci(correct, n, confidence)
    p_value = float(stats.binomtest(correct, n, 0.5, alternative=alternative).pvalue)
    return C2STResult(n, correct, correct / n, low, high, p_value, alternative, majority)


def _binary(x, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one entry per test image); got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if a.dtype == bool:
        return a.astype(np.int8)
    if not np.issubdtype(a.dtype, np.number) or not np.isin(a, (0, 1)).all():
        raise ValueError(f"{name} must contain only 0 (synthetic) and 1 (real)")
    return a.astype(np.int8)


def _predictions(p: np.ndarray) -> np.ndarray:
    if p.dtype == bool:
        return p.astype(np.int8)
    if not np.issubdtype(p.dtype, np.number):
        raise ValueError(f"predictions must be numeric or boolean; got dtype {p.dtype}")
    p = p.astype(float)
    if np.isnan(p).any():
        raise ValueError(f"predictions contain {int(np.isnan(p).sum())} NaN value(s)")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("predictions must be 0/1 labels or probabilities of 'real' in [0, 1]")
    return (p >= 0.5).astype(np.int8)
