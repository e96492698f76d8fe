"""Intensity normalization for model inputs. Layers keep raw values; models get normalized copies."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def brain_mask(volume: np.ndarray, threshold: float | None = None, nonzero: bool = False) -> np.ndarray:
    """Foreground mask of a skull-stripped volume: voxels above ``threshold`` (default: > 0), or
    with ``nonzero`` every voxel that is not 0 (resampled volumes have small negative values at the
    brain edge); holes filled slice by slice so dark necrosis or CSF inside the brain stays in."""
    v = np.asarray(volume)
    mask = v != 0 if nonzero else v > (0 if threshold is None else threshold)
    if mask.ndim != 3:
        return ndimage.binary_fill_holes(mask)
    if mask.any():  # fill holes on the bounding box only: the same result, faster
        box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(mask))
        mask[box] = np.stack([ndimage.binary_fill_holes(m) for m in mask[box]])
    return mask


def percentile_rescale(volume: np.ndarray, low: float = 0.5, high: float = 99.5,
                       mask: np.ndarray | None = None, out_range=(0.0, 1.0)) -> np.ndarray:
    """Clip to the [low, high] percentiles (computed inside ``mask`` if given) and rescale."""
    if not 0 <= low < high <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100 (got {low}, {high})")
    v = np.asarray(volume, dtype=np.float32)
    ref = v[mask] if mask is not None else v
    if ref.size == 0:
        raise ValueError("the mask selects no voxels")
    lo, hi = np.percentile(ref, [low, high])
    a, b = out_range
    if hi <= lo:
        return np.full_like(v, a)
    return (np.clip(v, lo, hi) - lo) / (hi - lo) * (b - a) + a


def zscore(volume: np.ndarray, mask: np.ndarray | None = None, outside: float = 0.0) -> np.ndarray:
    """Zero mean, unit variance inside ``mask`` (default: :func:`brain_mask`); ``outside`` elsewhere."""
    v = np.asarray(volume, dtype=np.float32)
    m = brain_mask(v) if mask is None else np.asarray(mask, dtype=bool)
    if not m.any():
        raise ValueError("the brain mask is empty: nothing to normalize")
    mu, sd = float(v[m].mean()), float(v[m].std())
    out = np.full_like(v, outside)
    out[m] = (v[m] - mu) / (sd if sd > 0 else 1.0)
    return out
