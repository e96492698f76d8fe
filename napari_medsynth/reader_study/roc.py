"""ROC analysis of ordinal ratings: empirical AUC, DeLong (co)variances, operating points and the
binormal maximum-likelihood fit.

Conventions. ``negatives`` and ``positives`` are the ratings of the two classes; a higher rating
means "more likely positive". In a reader study the positives are the synthetic images (see
:mod:`.analysis`), so AUC is the probability that a reader rates a random synthetic image as more
synthetic than a random real one: 0.5 = cannot tell, 1 = always right, 0 = always wrong way round.

* Empirical AUC: the Wilcoxon / Mann-Whitney statistic, ties counted one half (the trapezoidal
  area under the empirical ROC curve).
* DeLong, DeLong & Clarke-Pearson (1988): the covariance matrix of several AUCs measured on the
  same cases (readers, or treatments), from the per-case structural components ("placements").
* Binormal model: the latent rating of a negative is N(0, 1), of a positive N(a/b, 1/b^2);
  the ROC curve is TPF = Phi(a + b Phi^-1(FPF)) and AUC = Phi(a / sqrt(1 + b^2)). Fitted by
  maximum likelihood on the rating categories (Dorfman & Alf 1969, as ROCFIT / RJafroc's
  ``FitBinormalRoc``); its standard error is the delta method on the inverse observed
  information (numerical Hessian of the log likelihood). With only two categories (binary calls)
  ``b`` cannot be estimated and the equal-variance model (b = 1) is fitted instead. Data without
  an interior operating point (e.g. perfect separation) are degenerate: there is no fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special, stats


def _psi(negatives: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """Kernel matrix (positives x negatives): 1 where the positive is rated higher, 1/2 on ties."""
    y = np.asarray(positives, dtype=float)[:, None]
    x = np.asarray(negatives, dtype=float)[None, :]
    return (y > x) + 0.5 * (y == x)


def _checked(negatives, positives) -> tuple[np.ndarray, np.ndarray]:
    neg, pos = np.asarray(negatives, dtype=float).ravel(), np.asarray(positives, dtype=float).ravel()
    if neg.size == 0 or pos.size == 0:
        raise ValueError("AUC needs at least one negative and one positive rating")
    if not (np.isfinite(neg).all() and np.isfinite(pos).all()):
        raise ValueError("ratings must be finite numbers")
    return neg, pos


def empirical_auc(negatives, positives) -> float:
    """Wilcoxon / Mann-Whitney AUC (ties count 1/2)."""
    neg, pos = _checked(negatives, positives)
    return float(_psi(neg, pos).mean())


def delong(negatives, positives) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their covariance matrix for R rating sets on the same cases.

    ``negatives``: (R, n) ratings of the n negative cases by each of R readers (or treatments);
    ``positives``: (R, m). Returns (aucs (R,), covariance (R, R)). One rating set may be given
    as 1-D arrays. Needs n >= 2 and m >= 2 for a variance.
    """
    neg, pos = np.atleast_2d(np.asarray(negatives, dtype=float)), np.atleast_2d(np.asarray(positives, dtype=float))
    if neg.shape[0] != pos.shape[0]:
        raise ValueError("negatives and positives need one row per reader")
    r, n = neg.shape
    m = pos.shape[1]
    if n < 2 or m < 2:
        raise ValueError("the DeLong variance needs at least two negative and two positive cases")
    v10 = np.empty((r, m))  # per positive: share of negatives it beats
    v01 = np.empty((r, n))  # per negative: share of positives that beat it
    for i in range(r):
        psi = _psi(neg[i], pos[i])
        v10[i], v01[i] = psi.mean(axis=1), psi.mean(axis=0)
    aucs = v10.mean(axis=1)
    cov = np.atleast_2d(np.cov(v10, ddof=1)) / m + np.atleast_2d(np.cov(v01, ddof=1)) / n
    return aucs, cov


@dataclass(frozen=True)
class AucEstimate:
    """An AUC with its standard error, normal-approximation CI (clipped to 0..1) and the
    two-sided z-test against ``null`` (0.5: chance)."""

    auc: float
    se: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    null: float = 0.5


def estimate(auc: float, se: float | None, confidence: float = 0.95, null: float = 0.5) -> AucEstimate:
    if se is None or not np.isfinite(se):
        return AucEstimate(float(auc), None, None, None, None, null)
    z = stats.norm.ppf(0.5 + confidence / 2)
    if se > 0:
        p = float(2 * stats.norm.sf(abs(auc - null) / se))
    else:
        p = 1.0 if np.isclose(auc, null) else 0.0
    return AucEstimate(float(auc), float(se), max(0.0, float(auc - z * se)), min(1.0, float(auc + z * se)), p, null)


def auc_with_ci(negatives, positives, confidence: float = 0.95, null: float = 0.5) -> AucEstimate:
    """Empirical AUC of one rating set with its DeLong standard error (none with < 2 per class)."""
    neg, pos = _checked(negatives, positives)
    if neg.size < 2 or pos.size < 2:
        return estimate(empirical_auc(neg, pos), None, confidence, null)
    aucs, cov = delong(neg, pos)
    return estimate(aucs[0], float(np.sqrt(max(cov[0, 0], 0.0))), confidence, null)


def operating_points(negatives, positives) -> tuple[np.ndarray, np.ndarray]:
    """Empirical ROC operating points (FPF, TPF) from (0, 0) to (1, 1): "positive" at each
    distinct rating, strictest threshold first."""
    neg, pos = _checked(negatives, positives)
    thresholds = np.unique(np.concatenate([neg, pos]))[::-1]
    fpf = np.array([0.0] + [(neg >= t).mean() for t in thresholds])
    tpf = np.array([0.0] + [(pos >= t).mean() for t in thresholds])
    return fpf, tpf


@dataclass(frozen=True)
class BinormalFit:
    a: float
    b: float
    thresholds: tuple[float, ...]  # increasing, between the rating categories
    auc: float
    se: float | None
    ci_low: float | None
    ci_high: float | None
    log_likelihood: float
    equal_variance: bool = False  # True: binary ratings, b fixed at 1
    categories: tuple[float, ...] = field(default=(), repr=False)

    def tpf(self, fpf) -> np.ndarray:
        """The fitted ROC curve at the given false-positive fractions."""
        fpf = np.clip(np.asarray(fpf, dtype=float), 1e-12, 1 - 1e-12)
        return stats.norm.cdf(self.a + self.b * stats.norm.ppf(fpf))


def binormal_auc(a: float, b: float) -> float:
    return float(stats.norm.cdf(a / np.sqrt(1 + b * b)))


def _counts(neg: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    categories = np.unique(np.concatenate([neg, pos]))
    k1 = np.array([(neg == c).sum() for c in categories], dtype=float)
    k2 = np.array([(pos == c).sum() for c in categories], dtype=float)
    return categories, k1, k2


def _pdf(x: np.ndarray) -> np.ndarray:
    out = np.exp(-0.5 * np.square(np.where(np.isfinite(x), x, 0.0))) / np.sqrt(2 * np.pi)
    return np.where(np.isfinite(x), out, 0.0)


def _loglik(a: float, b: float, zetas: np.ndarray, k1: np.ndarray, k2: np.ndarray, grad: bool = False):
    """Log likelihood of the rating counts (and, with ``grad``, its derivatives in a, b, zetas)."""
    edges = np.concatenate([[-np.inf], zetas, [np.inf]])
    shifted = b * edges - a
    p1 = np.maximum(np.diff(special.ndtr(edges)), 1e-300)
    p2 = np.maximum(np.diff(special.ndtr(shifted)), 1e-300)
    ll = float((k1 * np.log(p1)).sum() + (k2 * np.log(p2)).sum())
    if not grad:
        return ll
    w1, w2 = k1 / p1, k2 / p2
    f1, f2 = _pdf(edges), _pdf(shifted)  # 0 at the infinite ends
    h = np.where(np.isfinite(edges), edges, 0.0) * f2
    d_a = float((w2 * (f2[:-1] - f2[1:])).sum())
    d_b = float((w2 * (h[1:] - h[:-1])).sum())
    d_z = f1[1:-1] * (w1[:-1] - w1[1:]) + b * f2[1:-1] * (w2[:-1] - w2[1:])
    return ll, d_a, d_b, d_z


def _start(k1: np.ndarray, k2: np.ndarray, equal_variance: bool) -> np.ndarray:
    """Start values from a straight-line fit of the operating points in probit space."""
    fpf = np.clip(np.cumsum(k1[::-1])[::-1][1:] / k1.sum(), 0.5 / k1.sum(), 1 - 0.5 / k1.sum())
    tpf = np.clip(np.cumsum(k2[::-1])[::-1][1:] / k2.sum(), 0.5 / k2.sum(), 1 - 0.5 / k2.sum())
    zf, zt = stats.norm.ppf(fpf), stats.norm.ppf(tpf)
    if equal_variance or zf.size < 2 or np.ptp(zf) < 1e-9:
        b = 1.0
        a = float(np.mean(zt - zf))
    else:
        b, a = np.polyfit(zf, zt, 1)
        b = float(np.clip(b, 0.2, 5.0))
    zetas = np.sort(-zf)  # P(negative above zeta) = FPF
    zetas = zetas + np.arange(zetas.size) * 1e-3  # strictly increasing
    return np.concatenate([[a, np.log(b)], [zetas[0]], np.log(np.maximum(np.diff(zetas), 1e-3))])


def _unpack(theta: np.ndarray, equal_variance: bool) -> tuple[float, float, np.ndarray]:
    a = theta[0]
    b = 1.0 if equal_variance else float(np.exp(theta[1]))
    zetas = theta[2] + np.concatenate([[0.0], np.cumsum(np.exp(theta[3:]))])
    return a, b, zetas


def binormal_fit(negatives, positives, confidence: float = 0.95) -> BinormalFit | None:
    """Maximum-likelihood binormal fit (see the module docstring); None when degenerate."""
    neg, pos = _checked(negatives, positives)
    categories, k1, k2 = _counts(neg, pos)
    if categories.size < 2:
        return None
    fpf, tpf = operating_points(neg, pos)
    if not np.any((fpf > 0) & (fpf < 1) & (tpf > 0) & (tpf < 1)):
        return None  # no interior operating point: the ML estimate runs off to b = 0 or infinity
    equal_variance = categories.size == 2

    def nll(theta):
        a, b, zetas = _unpack(theta, equal_variance)
        ll, d_a, d_b, d_z = _loglik(a, b, zetas, k1, k2, grad=True)
        # chain rule to (a, log b, zeta_1, log gaps)
        tail = np.cumsum(d_z[::-1])[::-1]  # sum over t >= s of dLL / dzeta_t
        g = np.concatenate([[d_a, d_b * b], [tail[0]], np.exp(theta[3:]) * tail[1:]])
        if equal_variance:
            g[1] = 0.0
        return -ll / total, -g / total  # per rating: the same tolerances for small and large studies

    total = k1.sum() + k2.sum()
    best = optimize.minimize(nll, _start(k1, k2, equal_variance), jac=True, method="BFGS",
                             options={"maxiter": 5000, "gtol": 1e-10})
    if not best.success and np.max(np.abs(best.jac)) > 1e-6:  # stuck away from an optimum: no derivatives
        polished = optimize.minimize(lambda t: nll(t)[0], best.x, method="Nelder-Mead",
                                     options={"maxiter": 4000 * best.x.size, "xatol": 1e-10, "fatol": 1e-14})
        best = polished if polished.fun <= best.fun else best
    a, b, zetas = _unpack(best.x, equal_variance)
    if not (np.isfinite(a) and 1e-3 < b < 1e3 and np.all(np.isfinite(zetas))):
        return None
    auc = binormal_auc(a, b)
    se = _auc_se(a, b, zetas, k1, k2, equal_variance)
    if se is None:
        low = high = None
    else:
        z = stats.norm.ppf(0.5 + confidence / 2)
        low, high = max(0.0, auc - z * se), min(1.0, auc + z * se)
    return BinormalFit(float(a), float(b), tuple(map(float, zetas)), auc, se, low, high, float(-best.fun * total),
                       equal_variance, tuple(map(float, categories)))


def _auc_se(a, b, zetas, k1, k2, equal_variance) -> float | None:
    """Delta-method SE of AUC from the inverse observed information in (a, b, zetas) (Hessian by
    central differences of the analytic gradient)."""
    def grad(x):
        if equal_variance:
            _, d_a, _, d_z = _loglik(x[0], 1.0, x[1:], k1, k2, grad=True)
            return -np.concatenate([[d_a], d_z])
        _, d_a, d_b, d_z = _loglik(x[0], x[1], x[2:], k1, k2, grad=True)
        return -np.concatenate([[d_a, d_b], d_z])

    x0 = np.concatenate([[a], zetas]) if equal_variance else np.concatenate([[a, b], zetas])
    steps = 1e-5 * np.maximum(1.0, np.abs(x0))
    hess = np.empty((x0.size, x0.size))
    for i, h in enumerate(steps):
        e = np.zeros(x0.size)
        e[i] = h
        hess[i] = (grad(x0 + e) - grad(x0 - e)) / (2 * h)
    hess = (hess + hess.T) / 2
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return None
    s = np.sqrt(1 + b * b)
    dens = stats.norm.pdf(a / s)
    g = np.zeros(x0.size)
    g[0] = dens / s
    if not equal_variance:
        g[1] = -dens * a * b / s ** 3
    var = float(g @ cov @ g)
    return float(np.sqrt(var)) if np.isfinite(var) and var >= 0 else None
