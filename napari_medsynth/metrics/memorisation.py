"""Memorisation check: how close does each synthetic image come to a training image?

A generator trained on few patients can copy its training slices. For every image of a set,
:func:`nearest_distances` finds the training image at the smallest root-mean-square distance
(pixel values, after the same preparation); :func:`memorisation_report` compares the synthetic
images' distances with those of *real held-out* images (other patients' slices, which cannot be
copies). Synthetic images much closer to the training set than held-out real ones are (e.g.
below the held-out distances' 1st percentile) are likely copies; a generator that does not copy
has a distribution of distances like the held-out one, or further.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import image_stack


def nearest_distances(images, training, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index): for each of ``images`` (N, H, W), the RMS distance to its nearest image of
    ``training`` (M, H, W) and that image's index."""
    a = image_stack(images, "images").reshape(len(images), -1)
    t = image_stack(training, "training").reshape(len(training), -1)
    if a.shape[1] != t.shape[1]:
        raise ValueError(f"images have {a.shape[1]} pixels but the training images {t.shape[1]}; use one size")
    t_sq = (t ** 2).sum(1)
    best = np.full(len(a), np.inf)
    index = np.zeros(len(a), np.int64)
    for start in range(0, len(t), chunk):
        part = t[start:start + chunk]
        d2 = (a ** 2).sum(1)[:, None] - 2 * a @ part.T + t_sq[start:start + chunk][None]
        k = d2.argmin(1)
        d = d2[np.arange(len(a)), k]
        better = d < best
        best[better], index[better] = d[better], start + k[better]
    return np.sqrt(np.maximum(best, 0.0) / a.shape[1]), index


@dataclass(frozen=True)
class MemorisationReport:
    synthetic: np.ndarray   # (N,) nearest-training distances of the synthetic images
    held_out: np.ndarray    # (M,) the same for real held-out images
    nearest: np.ndarray     # (N,) index of each synthetic image's nearest training image
    threshold: float        # the held-out distances' ``quantile`` quantile

    @property
    def closer_than_real(self) -> float:
        """Fraction of synthetic images nearer to a training image than ``threshold``."""
        return float((self.synthetic < self.threshold).mean())

    def summary(self) -> str:
        q = np.percentile(self.synthetic, [1, 50]).round(4).tolist()
        r = np.percentile(self.held_out, [1, 50]).round(4).tolist()
        return (f"nearest training image (RMS): synthetic 1st/50th percentile {q}, real held-out {r}; "
                f"{self.closer_than_real:.1%} of synthetic images are closer than {self.threshold:.4f}")

    def to_dict(self) -> dict:
        pct = [0, 1, 5, 50, 95, 100]
        return {"synthetic_percentiles": dict(zip(map(str, pct), np.percentile(self.synthetic, pct).round(5).tolist())),
                "held_out_percentiles": dict(zip(map(str, pct), np.percentile(self.held_out, pct).round(5).tolist())),
                "threshold": round(self.threshold, 5), "closer_than_real": round(self.closer_than_real, 4),
                "n_synthetic": int(len(self.synthetic)), "n_held_out": int(len(self.held_out))}


def memorisation_report(synthetic, held_out, training, quantile: float = 0.01) -> MemorisationReport:
    """Nearest-training distances of ``synthetic`` and of real ``held_out`` images, and the share of
    synthetic images closer than the held-out distances' ``quantile`` quantile."""
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must lie in [0, 1], not {quantile}")
    syn, nearest = nearest_distances(synthetic, training)
    held, _ = nearest_distances(held_out, training)
    return MemorisationReport(syn, held, nearest, float(np.quantile(held, quantile)))
