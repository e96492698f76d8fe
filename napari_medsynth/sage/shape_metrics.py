"""Are synthetic tumor shapes new and diverse? Intersection-over-union statistics of mask sets.

* :func:`nearest_real_iou` -- for each synthetic mask, the IoU with the most similar real mask.
  Near 1: the generator copies training shapes. Compare with :func:`leave_one_out_nearest_iou`
  of the real masks (how close real shapes are to each other).
* :func:`mean_pairwise_iou` -- mean IoU over all pairs of one set. Much higher among synthetic
  than among real masks: the generator collapsed onto few shapes.
"""

from __future__ import annotations

import numpy as np


def _flat(masks) -> np.ndarray:
    arr = np.asarray(masks)
    if arr.ndim != 3:
        raise ValueError(f"expected a stack of masks (N, S, S), got shape {arr.shape}")
    return (arr.reshape(len(arr), -1) > 0.5).astype(np.float32)


def iou_matrix(a, b) -> np.ndarray:
    """IoU of every mask in ``a`` with every mask in ``b``: ``(len(a), len(b))``."""
    fa, fb = _flat(a), _flat(b)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def dihedral(masks) -> np.ndarray:
    """The 8 rotations / reflections of every mask, ``(8 * N, S, S)`` (training augments with them)."""
    arr = np.asarray(masks)
    out = []
    for flip in (False, True):
        base = arr[:, :, ::-1] if flip else arr
        out += [np.rot90(base, k, axes=(1, 2)) for k in range(4)]
    return np.concatenate(out)


def nearest_real_iou(synthetic, real, orientations: bool = True) -> np.ndarray:
    """Per synthetic mask, the best IoU with any real mask (in any of its 8 orientations when
    ``orientations``, because a rotated copy is still a copy)."""
    ref = dihedral(real) if orientations else np.asarray(real)
    return iou_matrix(synthetic, ref).max(axis=1)


def leave_one_group_out_nearest_iou(real, groups, orientations: bool = True) -> np.ndarray:
    """Per real mask, the best IoU with real masks of *other* groups (patients).

    The yardstick for :func:`nearest_real_iou`: neighbouring slices of one tumor are nearly the
    same shape, so comparing within a patient would call every real shape a copy.
    """
    arr = np.asarray(real)
    groups = np.asarray(groups)
    out = np.empty(len(arr))
    for g in np.unique(groups):
        inside = groups == g
        if inside.all():
            raise ValueError("leave-one-group-out needs masks of at least two groups")
        out[inside] = nearest_real_iou(arr[inside], arr[~inside], orientations)
    return out


def mean_pairwise_iou(masks) -> float:
    m = iou_matrix(masks, masks)
    n = len(m)
    if n < 2:
        raise ValueError("pairwise IoU needs at least two masks")
    return float((m.sum() - np.trace(m)) / (n * (n - 1)))
