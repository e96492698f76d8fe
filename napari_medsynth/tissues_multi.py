"""Brain tissue classes (CSF, GM, WM) from several co-registered MR sequences at once.

The one-sequence fit (:func:`napari_medsynth.tissues.fit_tissues`) fails on many clinical scans,
where one contrast alone does not separate the tissues; :func:`fit_tissues_multi` fits a
mixture in the joint intensity space and smooths it with the same Potts MRF. Qt-free.
"""

from __future__ import annotations

import numpy as np

from .jobs import Progress
from .tissues import _MIN_VOXELS, DEFAULT_BETA, DEFAULT_ITERATIONS, _Grid, _softmax, bias_field

#: Where each tissue sits in a sequence's brain intensities (percentile of the voxels outside the
#: tumor), the start of the multi-sequence mixture: CSF, GM, WM.
_START_PERCENTILES = {"t1": (4, 40, 80), "t1ce": (4, 40, 80), "t2": (96, 55, 20), "flair": (4, 60, 35)}
_MULTI_SAMPLE = 200_000
_MULTI_EM_STEPS = 40


def _multi_ll(x: np.ndarray, w: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """(3, N) log of weight times the full-covariance Gaussian density of each component at x (N, D)."""
    out = np.empty((3, len(x)), np.float32)
    for k in range(3):
        inv = np.linalg.inv(cov[k])
        d = (x - mu[k]).astype(np.float32)
        maha = np.einsum("nd,de,ne->n", d, inv.astype(np.float32), d)
        out[k] = np.log(w[k]) - 0.5 * np.linalg.slogdet(cov[k])[1] - 0.5 * maha
    return out


def fit_tissues_multi(images: dict, brain, exclude=None, beta: float = DEFAULT_BETA,
                      iterations: int = DEFAULT_ITERATIONS, bias: bool = True, spacing=(1.0, 1.0, 1.0),
                      progress: Progress | None = None, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Tissue classes (1 CSF, 2 GM, 3 WM) from several co-registered sequences at once.

    One sequence's contrast alone often fails on clinical scans: T1 of a thick-slice acquisition
    barely separates GM from WM, T2 puts GM and CSF partial-volume voxels together. Here every
    voxel is a point in (T1, T2, FLAIR, ...) space: each sequence bias-corrected as in
    :func:`fit_tissues` and z-scored over the brain outside ``exclude``; a 3-component
    full-covariance Gaussian mixture is fitted by EM on a random sample of voxels, started at
    each tissue's typical place in every sequence (:data:`_START_PERCENTILES`: CSF dark on T1 and
    FLAIR, bright on T2; WM the brightest on T1 and the darkest on T2), and the same Potts MRF
    smooths the classes. Components are named by their T1 (else T1-Gd, else the first) mean,
    with CSF the component that is most CSF-like over all sequences.
    """
    names = [m for m in images if m in _START_PERCENTILES]
    if not names:
        raise ValueError(f"tissue contrast is known for {', '.join(_START_PERCENTILES)}, not {', '.join(images)}")
    mask = np.asarray(brain, dtype=bool)
    if exclude is not None:
        mask = mask & ~np.asarray(exclude, dtype=bool)
    report = progress or (lambda done, total, message="": None)
    out = np.zeros(mask.shape, dtype=np.uint8)
    info = {"modality": "+".join(names), "beta": float(beta), "iterations": int(iterations)}
    if mask.sum() < _MIN_VOXELS:
        return out, {**info, "means": {}, "stds": {}, "weights": {}, "gmm": {}}
    grid = _Grid(mask if mask.ndim == 3 else mask[None])
    total = len(names) + 2 + iterations
    feats = []
    for i, m in enumerate(names):
        report(i, total, f"bias field of {m}" if bias else f"reading {m}")
        box = np.asarray(images[m]) if mask.ndim == 3 else np.asarray(images[m])[None]
        box = box[grid.box].astype(np.float32)
        field = bias_field(box, grid.mask, spacing).ravel()[grid.index] if bias else 1.0
        v = box.ravel()[grid.index] / field
        lo, hi = np.percentile(v, [0.5, 99.5])
        v = np.clip(v, lo, hi)
        feats.append((v - v.mean()) / max(float(v.std()), 1e-6))
    x = np.stack(feats, axis=1).astype(np.float32)  # (N, D)
    report(len(names), total, "fitting the multi-sequence mixture")
    rng = np.random.default_rng(seed)
    sample = x[rng.choice(len(x), min(len(x), _MULTI_SAMPLE), replace=False)]
    mu = np.stack([[np.percentile(x[:, d], _START_PERCENTILES[m][k]) for d, m in enumerate(names)]
                   for k in range(3)])
    cov = np.stack([np.eye(len(names)) * 0.25 for _ in range(3)])
    w = np.full(3, 1 / 3)
    for _ in range(_MULTI_EM_STEPS):
        r = _softmax(_multi_ll(sample, w, mu, cov))  # (3, n)
        n = r.sum(axis=1) + 1e-9
        w = n / n.sum()
        mu = (r @ sample) / n[:, None]
        for k in range(3):
            d = sample - mu[k]
            cov[k] = (r[k][:, None] * d).T @ d / n[k] + np.eye(len(names)) * 1e-3
    ll = _multi_ll(x, w, mu, cov)
    plain = np.argmax(ll, axis=0)
    q = _softmax(ll.copy())
    for step in range(iterations):
        q = _softmax(ll + beta * grid.neighbour_sums(q))
        report(len(names) + 1 + step, total, f"spatial smoothing (step {step + 1} of {iterations})")
    final = np.argmax(q if iterations and beta > 0 else ll, axis=0)
    # Name the components: CSF the most CSF-like (sum of its means signed by each sequence's CSF
    # direction), WM of the other two the one brighter on T1 (or darker on T2).
    sign = np.array([1.0 if _START_PERCENTILES[m][0] > 50 else -1.0 for m in names])
    csf = int(np.argmax(mu @ sign))
    rest = [k for k in range(3) if k != csf]
    ref = next((i for i, m in enumerate(names) if m in ("t1", "t1ce")), None)
    key = (lambda k: mu[k, ref]) if ref is not None else (lambda k: -(mu[k] @ sign))
    gm, wm = sorted(rest, key=key)
    tissue_of = np.zeros(3, np.uint8)
    tissue_of[[csf, gm, wm]] = (1, 2, 3)
    (out if out.ndim == 3 else out[None])[grid.box][grid.mask] = tissue_of[final]
    label = {csf: "CSF", gm: "GM", wm: "WM"}
    info.update(means={label[k]: dict(zip(names, mu[k].round(3).tolist())) for k in range(3)},
                stds={label[k]: dict(zip(names, np.sqrt(np.diag(cov[k])).round(3).tolist())) for k in range(3)},
                weights={label[k]: float(w[k]) for k in range(3)}, changed_by_mrf=int(np.sum(final != plain)))
    report(total, total, "tissue classes done")
    return out, info
