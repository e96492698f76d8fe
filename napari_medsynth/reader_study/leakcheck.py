"""Does the histogram give the answer away? A leak check of a study's prepared stimuli.

Readers should have to judge anatomy. If a logistic regression on a handful of grey-level
histogram features (how much background, how many grey levels, brightness percentiles, entropy)
tells real from synthetic stimuli apart, so could a reader, from brightness or noise alone, or a
script run over the study folder. :func:`leak_check` fits it with stratified cross-validation on
the stimuli exactly as written and reports its accuracy; ``create`` warns above
:data:`WARN_ABOVE` (70%), so the organizer sees the leak before the readers do.

Stimulus preparation (:mod:`.stimuli`) removes what is not anatomy (background, quantisation,
resampling); what the check still finds is a difference in content (e.g. synthetic images
brighter overall, or lower contrast) that no preparation should hide: fix the generator or the
choice of images instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WARN_ABOVE = 0.70
FEATURES = ("background", "white", "grey_levels", "entropy", "mean", "std", "p10", "p50", "p90", "near_black")
MIN_PER_SOURCE = 4  # fewer real or synthetic stimuli: no check


def histogram_features(pixels: np.ndarray) -> np.ndarray:
    """Ten features of an 8-bit stimulus's grey-level histogram (see :data:`FEATURES`)."""
    p = np.asarray(pixels, dtype=np.uint8).ravel()
    hist = np.bincount(p, minlength=256).astype(np.float64)
    total = hist.sum()
    fg = p[p > 0].astype(np.float64)
    if fg.size == 0:
        fg = np.zeros(1)
    h = hist[1:] / max(hist[1:].sum(), 1.0)
    nz = h[h > 0]
    return np.array([
        hist[0] / total,                      # background (exactly black) share
        hist[255] / total,                    # saturated share
        np.count_nonzero(hist) / 256.0,       # grey levels used (bit depth)
        float(-(nz * np.log2(nz)).sum()),     # histogram entropy of the foreground
        fg.mean() / 255.0, fg.std() / 255.0,  # brightness and contrast of the foreground
        *(np.percentile(fg, [10, 50, 90]) / 255.0),
        hist[1:9].sum() / total,              # near-black, not black: leftover background noise
    ])


@dataclass(frozen=True)
class LeakCheck:
    """Cross-validated accuracy of telling real from synthetic stimuli by their histograms."""

    accuracy: float
    n_real: int
    n_synthetic: int
    folds: int

    @property
    def chance(self) -> float:
        return max(self.n_real, self.n_synthetic) / (self.n_real + self.n_synthetic)

    @property
    def leaky(self) -> bool:
        return self.accuracy > WARN_ABOVE

    def summary(self) -> str:
        return (f"a logistic regression on {len(FEATURES)} grey-level histogram features tells real from synthetic "
                f"stimuli apart with {self.accuracy:.0%} accuracy ({self.folds}-fold cross-validated; chance "
                f"{self.chance:.0%}; {self.n_real} real, {self.n_synthetic} synthetic)")

    def warning(self) -> str | None:
        if not self.leaky:
            return None
        return (f"blinding leak: {self.summary()}. Readers may tell the sources apart by brightness, contrast or "
                "noise rather than anatomy. Compare the two sources' intensity histograms and fix the generator "
                "or the image choice before giving the study to readers.")


def leak_check(features: np.ndarray, synthetic: np.ndarray, seed: int = 0) -> LeakCheck | None:
    """``features``: one row of :func:`histogram_features` per stimulus; ``synthetic``: bool per
    stimulus. None when either source has fewer than :data:`MIN_PER_SOURCE` stimuli."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(synthetic, dtype=bool).astype(int)
    n_syn = int(y.sum())
    n_real = int(y.size - n_syn)
    if min(n_real, n_syn) < MIN_PER_SOURCE:
        return None
    canonical = np.lexsort(np.column_stack([x, y]).T[::-1])  # rows in content order: the ids do not matter
    x, y = x[canonical], y[canonical]
    folds = int(min(5, n_real, n_syn))
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)  # fixed: not the study's seed
    scores = cross_val_score(model, x, y, cv=cv, scoring="accuracy")
    return LeakCheck(float(scores.mean()), n_real, n_syn, folds)
