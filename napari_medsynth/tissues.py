"""Brain tissue classes (CSF, GM, WM) from one MR sequence, and the 7-class map of a BraTS case.

The PGGAN+SPADE paper's complete label map (:data:`~napari_medsynth.labels.COMPLETE7`: 0 BG,
1 NCR/NET, 2 ED, 3 ET, 4 WM, 5 GM, 6 CSF) needs healthy-tissue classes that BraTS does not
provide. :func:`segment_tissues` makes them the way FSL FAST and ANTs Atropos do, in a small form:

1. **Bias field** (on by default): a smooth multiplicative shading estimated as N3/N4 do, on a
   grid of 4-voxel blocks: the log intensities are compared with their expected value under a
   deblurred (Wiener-filtered) histogram, and the residual, smoothed (Gaussian,
   ``_BIAS_SIGMA_MM``), is added to the field, repeatedly. A central brightening or a coil
   shading then no longer moves WM into GM.
2. **Intensity model**: a 3-class 1-D Gaussian mixture fitted by EM to the histogram of the
   corrected voxels inside the brain and outside the tumor, started by weighted k-means from the
   tertile centres. Voxels darker than 5 % of the bright end (background bled in at the brain
   edge) stay out of the fit. Voxels are classified with one pooled spread: a class widened by
   partial-volume voxels (GM, between CSF and WM) would otherwise swallow its neighbours' edges.
3. **Spatial smoothness**: a Potts Markov random field over the 26-neighbourhood, solved by
   mean-field iterations (class probabilities = mixture likelihoods times ``exp(beta * sum of
   the neighbours' probabilities)``), alternated with re-estimating the class means and spread
   (hidden-MRF EM, as in FAST). The mixing weights stay those of the plain mixture, so the small
   CSF class is not eroded round after round.

The components are named by the sequence's contrast order (:data:`TISSUE_ORDER`).

:func:`napari_medsynth.case_tissues.labels7_for_case` applies it to a case folder. Qt-free.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .jobs import Progress

#: Tissue values (FAST convention: 1 CSF, 2 GM, 3 WM) of the three mixture components from darkest
#: to brightest, per MR sequence.
TISSUE_ORDER = {"t1": (1, 2, 3), "t1ce": (1, 2, 3), "t2": (3, 2, 1), "flair": (1, 3, 2)}
TISSUE_NAMES = {1: "CSF", 2: "GM", 3: "WM"}
DEFAULT_BETA = 0.1
DEFAULT_ITERATIONS = 5
_HIST_BINS = 1024
_OUTER = 2  # alternations of MRF and class parameters
_BIAS_SIGMA_MM = 30.0
_BIAS_STEP = 4  # voxels per block of the bias field's grid (N4's default shrink factor)
_BIAS_ITERATIONS = 50
_BIAS_FWHM = 0.15  # N4's default: the field's assumed blur of the log-intensity histogram
_FIT_FLOOR = 0.05  # voxels below this fraction of the 99.5th percentile stay out of the fit
_MIN_VOXELS = 30


# --- intensity model ---------------------------------------------------------------------------


def fit_gmm(values: np.ndarray, iterations: int = 200, bins: int = _HIST_BINS) -> tuple[np.ndarray, ...]:
    """(weights, means, stds) of a 3-class 1-D Gaussian mixture fitted by EM to ``values``' histogram,
    components in ascending order of their means."""
    v = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = np.percentile(v, [0.05, 99.95])
    if hi <= lo:
        lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return np.full(3, 1 / 3), np.full(3, float(lo)), np.ones(3)
    counts, edges = np.histogram(np.clip(v, lo, hi), bins=bins, range=(lo, hi))
    x = (edges[:-1] + edges[1:]) / 2
    keep = counts > 0
    x, c = x[keep], counts[keep].astype(np.float64)
    floor = (edges[1] - edges[0]) ** 2 / 12 + 1e-12 * (hi - lo) ** 2  # variance of a bin
    # A few weighted k-means steps from the tertile centres: a start near the three peaks.
    mu = np.percentile(v, [100 / 6, 50, 500 / 6])
    for _ in range(21):
        hot = np.argmin(np.abs(x[:, None] - mu[None]), axis=1)[:, None] == np.arange(3)
        n = (hot * c[:, None]).sum(axis=0) + 1e-12
        mu = np.where(n > 1e-6, (hot * (c * x)[:, None]).sum(axis=0) / n, mu)
    var = np.maximum((hot * c[:, None] * (x[:, None] - mu) ** 2).sum(axis=0) / n, floor)
    w = n / n.sum() + 1e-6
    prev = -np.inf
    for _ in range(iterations):
        logp = np.log(w) - 0.5 * np.log(var) - 0.5 * (x[:, None] - mu) ** 2 / var
        top = logp.max(axis=1, keepdims=True)
        p = np.exp(logp - top)
        total = p.sum(axis=1, keepdims=True)
        ll = float((c * (np.log(total[:, 0]) + top[:, 0])).sum())
        r = c[:, None] * p / total
        n = r.sum(axis=0) + 1e-12
        w = n / n.sum() + 1e-12
        mu = (r * x[:, None]).sum(axis=0) / n
        var = np.maximum((r * (x[:, None] - mu) ** 2).sum(axis=0) / n, floor)
        if ll - prev < 1e-7 * abs(ll):
            break
        prev = ll
    order = np.argsort(mu)
    return w[order] / w.sum(), mu[order], np.sqrt(var[order])


def _log_likelihood(x: np.ndarray, w, mu, sd) -> np.ndarray:
    """(3, ...) log of weight times Gaussian density of each component at ``x``."""
    w, mu, sd = (np.asarray(a, dtype=np.float32).reshape((3,) + (1,) * x.ndim) for a in (w, mu, sd))
    return np.log(w) - np.log(sd) - 0.5 * ((x[None] - mu) / sd) ** 2


def _softmax(e: np.ndarray) -> np.ndarray:
    e = e - e.max(axis=0, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=0, keepdims=True)
    return e


# --- neighbourhood sums, bias field ------------------------------------------------------------


def _box_sums(a: np.ndarray) -> np.ndarray:
    """The sum over each voxel's 3 x 3 x 3 box, itself included (zero outside the array)."""
    p = np.pad(a, 1)
    for axis in range(3):  # separable: three shifted views added per axis
        views = [p[(slice(None),) * axis + (slice(i, p.shape[axis] - 2 + i),)] for i in range(3)]
        p = views[0] + views[1]
        p += views[2]
    return p


class _Grid:
    """The voxels of a mask inside its bounding box: (N,) per-voxel values <-> the 3-D neighbourhood."""

    def __init__(self, mask: np.ndarray):
        idx = np.nonzero(mask)
        self.box = tuple(slice(max(int(i.min()) - 1, 0), int(i.max()) + 2) for i in idx)
        self.mask = mask[self.box]
        self.index = np.flatnonzero(self.mask)
        self._buf = np.zeros(self.mask.shape, dtype=np.float32)
        self.count = self.gather_sums(np.ones(self.index.size, dtype=np.float32)) - 1  # mask neighbours

    def gather_sums(self, values: np.ndarray) -> np.ndarray:
        """(N,) values on the mask -> (N,) sums over each voxel's 3 x 3 x 3 box inside the mask."""
        np.put(self._buf, self.index, values)
        return np.take(_box_sums(self._buf), self.index)

    def neighbour_sums(self, q: np.ndarray) -> np.ndarray:
        """(3, N) class probabilities -> (3, N) sums over the 26 neighbours inside the mask (the
        probabilities sum to 1, so the third class is the neighbour count minus the other two)."""
        out = np.empty_like(q)
        for k in range(2):
            out[k] = self.gather_sums(q[k]) - q[k]
        out[2] = self.count - out[0] - out[1]
        return out


def _axis_interp(n: int, cells: int, step: int) -> np.ndarray:
    """(n, cells) linear interpolation from cell centres to voxel centres along one axis."""
    pos = np.clip((np.arange(n) + 0.5) / step - 0.5, 0, cells - 1)
    i0 = np.minimum(np.floor(pos).astype(int), max(cells - 2, 0))
    f = pos - i0
    out = np.zeros((n, cells), dtype=np.float32)
    out[np.arange(n), i0] += 1 - f
    out[np.arange(n), np.minimum(i0 + 1, cells - 1)] += f
    return out


def _block_sums(a: np.ndarray, s: int) -> np.ndarray:
    a = np.pad(a, [(0, -(-n // s) * s - n) for n in a.shape])
    return a.reshape(a.shape[0] // s, s, a.shape[1] // s, s, a.shape[2] // s, s).sum(axis=(1, 3, 5))


def _sharpened(v: np.ndarray, bins: int = 200, noise: float = 0.01) -> np.ndarray:
    """N3's step: each log intensity's expected value under the histogram deblurred by a Gaussian
    of ``_BIAS_FWHM`` (Wiener filter), i.e. where the field would move it on a sharper histogram."""
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-6:
        return v
    width, n, off = (hi - lo) / bins, 2 * bins, bins // 2
    h = np.zeros(n)
    h[off:off + bins] = np.histogram(v, bins=bins, range=(lo, hi))[0]
    u = lo + (np.arange(n) - off + 0.5) * width
    k = np.minimum(np.arange(n), n - np.arange(n))
    g = np.exp(-0.5 * (k * width / (_BIAS_FWHM / 2.3548)) ** 2)
    gf = np.fft.rfft(g / g.sum())
    sharp = np.maximum(np.fft.irfft(np.fft.rfft(h) * gf / (gf * gf + noise), n), 0)
    num = np.fft.irfft(np.fft.rfft(sharp * u) * gf, n)
    den = np.fft.irfft(np.fft.rfft(sharp) * gf, n)
    expected = np.where(den > 1e-9 * den.max(), num / np.maximum(den, 1e-300), u)
    return np.interp(v, u[off:off + bins], expected[off:off + bins])


def bias_field(image: np.ndarray, mask: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    """A smooth multiplicative field (mean 1 over ``mask``) of a 3-D image, N3-style: see the
    module docstring. Divide the image by it to correct the shading."""
    s = _BIAS_STEP
    valid = mask & (image > 0)
    count = _block_sums(valid.astype(np.float32), s)
    total = _block_sums(np.where(valid, image, 0).astype(np.float32), s)
    ok = count >= 0.5 * s ** 3
    if ok.sum() < _MIN_VOXELS:
        return np.ones(image.shape, dtype=np.float32)
    v = np.log(total[ok] / count[ok])
    sigma = [_BIAS_SIGMA_MM / (float(sp) * s) for sp in spacing]
    den = ndimage.gaussian_filter(ok.astype(np.float32), sigma, mode="constant")
    den = np.where(den > 1e-3, den, np.inf)
    field = np.zeros(ok.shape, dtype=np.float32)
    resid = np.zeros(ok.shape, dtype=np.float32)
    for _ in range(_BIAS_ITERATIONS):
        cur = v - field[ok]
        resid[ok] = cur - _sharpened(cur)
        step = ndimage.gaussian_filter(resid, sigma, mode="constant") / den
        field += step
        if np.abs(step[ok]).max() < 1e-3:
            break
    field -= field[ok].mean()
    for axis in range(3):  # separable linear upsampling from block centres: a small matrix per axis
        field = np.moveaxis(np.tensordot(_axis_interp(image.shape[axis], field.shape[axis], s), field,
                                         axes=(1, axis)), 0, axis)
    return np.exp(field)


# --- tissue segmentation -----------------------------------------------------------------------


def _class_parameters(q: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(means in ascending order, pooled stds) of the three classes from their probabilities."""
    n = q.sum(axis=1, dtype=np.float64) + 1e-6
    mu = (q @ x.astype(np.float64)) / n
    var = np.einsum("kn,kn->", q, (x[None] - mu[:, None].astype(np.float32)) ** 2, dtype=np.float64) / n.sum()
    return np.sort(mu), np.full(3, np.sqrt(max(float(var), 1e-6 * float(np.ptp(x)) ** 2 + 1e-12)))


def fit_tissues(image, brain, exclude=None, modality: str = "t1", beta: float = DEFAULT_BETA,
                iterations: int = DEFAULT_ITERATIONS, bias: bool = True, spacing=(1.0, 1.0, 1.0),
                progress: Progress | None = None) -> tuple[np.ndarray, dict]:
    """:func:`segment_tissues` plus a description of the fit: ``"means"`` / ``"stds"`` /
    ``"weights"`` by tissue name (of the bias-corrected image), ``"gmm"`` (the plain mixture's
    means and stds), ``"bias_range"`` (the field's 1st and 99th percentile in the brain) and
    ``"changed_by_mrf"`` (voxels whose class the spatial step changed from the plain mixture's)."""
    order = TISSUE_ORDER.get(modality)
    if order is None:
        raise ValueError(f"tissue contrast is known for {', '.join(TISSUE_ORDER)}, not {modality!r}")
    image = np.asarray(image)
    mask = np.asarray(brain, dtype=bool)
    if image.shape != mask.shape:
        raise ValueError(f"image {image.shape} and brain mask {mask.shape} differ in shape")
    if exclude is not None:
        mask = mask & ~np.asarray(exclude, dtype=bool)
    report = progress or (lambda done, total, message="": None)
    out = np.zeros(image.shape, dtype=np.uint8)
    info = {"modality": modality, "beta": float(beta), "iterations": int(iterations)}
    if mask.sum() < _MIN_VOXELS or np.ptp(image[mask]) == 0:  # nothing to fit
        return out, {**info, "means": {}, "stds": {}, "weights": {}, "gmm": {}, "bias_range": [1.0, 1.0]}
    grid = _Grid(mask if mask.ndim == 3 else mask[None])
    box = (image if image.ndim == 3 else image[None])[grid.box].astype(np.float32)
    names = [TISSUE_NAMES[t] for t in order]
    smooth = beta > 0 and iterations > 0
    outer = _OUTER if smooth else 0
    total = 2 + outer * (iterations + 1)
    report(0, total, "estimating the bias field" if bias else "fitting the intensity mixture")
    field = bias_field(box, grid.mask, spacing).ravel()[grid.index] if bias else np.ones(1, np.float32)
    x = box.ravel()[grid.index] / field
    report(1, total, "fitting the intensity mixture")
    fit = x > _FIT_FLOOR * np.percentile(x, 99.5)
    if fit.sum() < _MIN_VOXELS:
        fit = np.ones(x.shape, dtype=bool)
    w, mu, sd = fit_gmm(x[fit])
    info["gmm"] = {"means": dict(zip(names, mu.tolist())), "stds": dict(zip(names, sd.tolist()))}
    sd = np.full(3, np.sqrt(np.sum(w * sd ** 2)))  # pooled: see the module docstring
    plain = np.argmax(_log_likelihood(x, w, mu, sd), axis=0)
    step = 2
    report(step, total, "mixture fitted")
    for _ in range(outer):
        ll = _log_likelihood(x, w, mu, sd)
        q = _softmax(ll.copy())
        for _ in range(iterations):
            q = _softmax(ll + beta * grid.neighbour_sums(q))
            step += 1
            report(step, total, f"spatial smoothing (step {step} of {total})")
        mu, sd = _class_parameters(q[:, fit], x[fit])
        step += 1
        report(step, total, "class means and spreads updated")
    e = _log_likelihood(x, w, mu, sd)
    if smooth:
        e += beta * grid.neighbour_sums(_softmax(e.copy()))
    final = np.argmax(e, axis=0)
    (out if out.ndim == 3 else out[None])[grid.box][grid.mask] = np.asarray(order, dtype=np.uint8)[final]
    info.update(means=dict(zip(names, mu.tolist())), stds=dict(zip(names, sd.tolist())),
                weights=dict(zip(names, w.tolist())), changed_by_mrf=int(np.sum(final != plain)),
                bias_range=[float(v) for v in np.percentile(field, [1, 99])])
    report(total, total, "tissue classes done")
    return out, info


def segment_tissues(image, brain, exclude=None, modality: str = "t1", beta: float = DEFAULT_BETA,
                    iterations: int = DEFAULT_ITERATIONS, progress: Progress | None = None, *,
                    bias: bool = True, spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Tissue classes of an MR volume: uint8, 1 CSF, 2 GM, 3 WM inside ``brain`` and outside
    ``exclude``, 0 elsewhere.

    A 3-class Gaussian mixture on the intensities, named by ``modality``'s contrast (T1 / T1-Gd:
    CSF < GM < WM; T2: WM < GM < CSF; FLAIR: CSF < WM < GM), then ``iterations`` mean-field steps
    of a 26-neighbour Potts MRF with strength ``beta`` (0: the plain mixture), alternated with
    class-parameter updates; ``bias`` first divides out an N3-style bias field (3-D images; see
    the module docstring). ``progress(done, total, message)`` is called between steps.
    """
    return fit_tissues(image, brain, exclude, modality, beta, iterations, bias, spacing, progress)[0]


# --- case folders ------------------------------------------------------------------------------


def brain_region(image: np.ndarray) -> np.ndarray:
    """The skull-stripped brain: non-zero voxels (real resampled volumes have small negative values
    at the edge), holes filled slice by slice (:func:`~.io.normalize.brain_mask`)."""
    from .io.normalize import brain_mask

    return brain_mask(image, nonzero=True)

