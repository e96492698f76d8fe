"""Multi-reader multi-case (MRMC) analysis: Obuchowski-Rockette with Hillis' degrees of freedom.

A reader's figure of merit (FOM: AUC, accuracy, ...) varies with the reader *and* with the cases
read. Treating readings of the same images as independent (a pooled binomial test) ignores that
all readers saw the same cases; a t-interval over two or three readers ignores the cases
altogether. The Obuchowski-Rockette (OR) model handles both:

    theta_ij = mu + tau_i + R_j + (tau R)_ij + e_ij

for treatment (modality) i and reader j, with random reader effects and errors e_ij whose
covariances (from case sampling) are Var (same i, j), Cov1 (same reader, other treatment), Cov2
(same treatment, other reader) and Cov3 (both differ). They are estimated here by the jackknife
over cases (Hillis et al. 2008; the default of RJafroc and OR-DBM MRMC):

    Cov(theta_ij, theta_i'j') = (K-1)/K * sum_k (theta_ij(k) - theta_ij(.)) (theta_i'j'(k) - theta_i'j'(.))

with theta(k) the FOM without case k. Random-reader random-case (RRRC) inference then uses

* treatments compared: F = MS(T) / [MS(TR) + J max(Cov2 - Cov3, 0)] with Hillis (2007) denominator
  degrees of freedom ddf = [MS(TR) + J max(Cov2 - Cov3, 0)]^2 / {MS(TR)^2 / [(I-1)(J-1)]};
* one treatment against a fixed value (chance, 0.5): SE^2 = [MS(R) + J max(Cov2, 0)] / J with
  df = [MS(R) + J max(Cov2, 0)]^2 / [MS(R)^2 / (J-1)] (Hillis 2007; RJafroc's ``ciAvgRdrEachTrt``).

Reader variance components: sigma2_R (readers) and sigma2_TR (treatment x reader), from the
expected mean squares. With one reader only case variability is left: SE^2 = Var (normal).
References: Obuchowski & Rockette, Commun Stat Simul 24 (1995) 285; Hillis, Stat Med 26 (2007)
596; Hillis, Obuchowski & Berbaum, Acad Radiol 15 (2008) 647.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

#: method of a result without any variance: every reader had the same FOM and no case changed it
ZERO_VARIANCE = "no variance (readers alike on every case)"


# ---- figures of merit and their jackknife values ------------------------------------------------

def jackknife_auc(negatives, positives) -> tuple[np.ndarray, np.ndarray]:
    """Empirical AUCs (I, J) and their case-deleted values (I, J, n + m).

    ``negatives``: (I, J, n) ratings of the n negative cases (treatment x reader x case);
    ``positives``: (I, J, m). Case k < n is a negative, the rest positives (RJafroc's order).
    """
    neg, pos = np.asarray(negatives, dtype=float), np.asarray(positives, dtype=float)
    if neg.ndim != 3 or pos.ndim != 3 or neg.shape[:2] != pos.shape[:2]:
        raise ValueError("ratings must be (treatments, readers, cases) arrays")
    n, m = neg.shape[2], pos.shape[2]
    if n < 2 or m < 2:
        raise ValueError("the jackknife AUC needs at least two negative and two positive cases")
    y, x = pos[:, :, :, None], neg[:, :, None, :]
    psi = (y > x) + 0.5 * (y == x)  # (I, J, m, n)
    total = psi.sum(axis=(2, 3))
    foms = total / (m * n)
    without_neg = (total[..., None] - psi.sum(axis=2)) / (m * (n - 1))
    without_pos = (total[..., None] - psi.sum(axis=3)) / ((m - 1) * n)
    return foms, np.concatenate([without_neg, without_pos], axis=2)


def jackknife_proportion(numerators, denominators) -> tuple[np.ndarray, np.ndarray] | None:
    """A rate sum(num) / sum(den) per treatment and reader and its case-deleted values.

    ``numerators``, ``denominators``: (I, J, K) per-case 0/1 contributions (e.g. accuracy:
    correct / 1; FPR: synthetic called real / synthetic). Only cases that enter some reader's
    denominator are jackknifed (a case outside every denominator cannot change the rate). None
    when a reader has fewer than two cases in the denominator.
    """
    num, den = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
    if num.shape != den.shape or num.ndim != 3:
        raise ValueError("numerators and denominators must be (treatments, readers, cases) arrays")
    used = den.reshape(-1, den.shape[2]).any(axis=0)
    num, den = num[:, :, used], den[:, :, used]
    n_sum, d_sum = num.sum(axis=2), den.sum(axis=2)
    if den.shape[2] < 2 or np.any(d_sum < 2):
        return None
    return n_sum / d_sum, (n_sum[..., None] - num) / (d_sum[..., None] - den)


def jackknife_covariance(jackknife) -> np.ndarray:
    """(I*J, I*J) covariance of the FOMs (treatment-major) from case-deleted values (I, J, K)."""
    jk = np.asarray(jackknife, dtype=float)
    k = jk.shape[2]
    flat = jk.reshape(-1, k)
    dev = flat - flat.mean(axis=1, keepdims=True)
    return (k - 1) / k * dev @ dev.T


# ---- the OR model ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Components:
    """OR error (co)variances averaged over the design (see the module docstring)."""

    var: float
    cov1: float | None  # None with one treatment
    cov2: float | None  # None with one reader
    cov3: float | None  # None with one treatment or one reader


def components(cov: np.ndarray, n_treatments: int, n_readers: int) -> Components:
    i_idx, j_idx = np.divmod(np.arange(n_treatments * n_readers), n_readers)
    same_i = i_idx[:, None] == i_idx[None, :]
    same_j = j_idx[:, None] == j_idx[None, :]

    def mean(mask):
        return float(cov[mask].mean()) if mask.any() else None

    return Components(mean(same_i & same_j), mean(~same_i & same_j), mean(same_i & ~same_j),
                      mean(~same_i & ~same_j))


@dataclass(frozen=True)
class Inference:
    """An estimate (a treatment's mean FOM, or a difference) with its RRRC interval and test."""

    estimate: float
    se: float
    df: float  # inf: normal approximation
    ci_low: float
    ci_high: float
    null: float
    t: float | None
    p_value: float


def _inference(estimate: float, se: float, df: float, null: float, alpha: float, clip: bool) -> Inference:
    tq = stats.t.ppf(1 - alpha / 2, df) if np.isfinite(df) else stats.norm.ppf(1 - alpha / 2)
    low, high = estimate - tq * se, estimate + tq * se
    if clip:
        low, high = max(0.0, low), min(1.0, high)
    if se > 0:
        t = (estimate - null) / se
        p = 2 * (stats.t.sf(abs(t), df) if np.isfinite(df) else stats.norm.sf(abs(t)))
    else:
        t, p = None, (1.0 if np.isclose(estimate, null) else 0.0)
    return Inference(float(estimate), float(se), float(df), float(low), float(high), null,
                     None if t is None else float(t), float(p))


@dataclass(frozen=True)
class SingleTreatment:
    """Readers' mean FOM in one treatment, random readers and random cases, against ``null``."""

    inference: Inference
    foms: tuple[float, ...]
    ms_r: float | None  # mean square of readers
    var: float  # error variance of one reader's FOM (case sampling)
    cov2: float | None  # error covariance between two readers' FOMs (same cases)
    var_r: float | None  # reader variance sigma2_R = MS(R) - Var + Cov2
    n_cases: int
    method: str  # "OR-RRRC (Hillis df)", "one reader: cases only" or ZERO_VARIANCE


def single_treatment(foms, cov, null: float = 0.5, alpha: float = 0.05, n_cases: int = 0,
                     clip: bool = True) -> SingleTreatment:
    """RRRC analysis of J readers' FOMs (J,) with their (J, J) error covariance."""
    foms = np.asarray(foms, dtype=float).ravel()
    cov = np.atleast_2d(np.asarray(cov, dtype=float))
    j = foms.size
    comp = components(cov, 1, j)
    mean = float(foms.mean())
    if j == 1:
        inf = _inference(mean, float(np.sqrt(max(comp.var, 0.0))), np.inf, null, alpha, clip)
        return SingleTreatment(inf, tuple(foms), None, comp.var, None, None, n_cases, "one reader: cases only")
    ms_r = float(foms.var(ddof=1))
    den = ms_r + j * max(comp.cov2, 0.0)
    df = den ** 2 / (ms_r ** 2 / (j - 1)) if ms_r > 0 else np.inf
    inf = _inference(mean, float(np.sqrt(max(den, 0.0) / j)), df, null, alpha, clip)
    method = "OR-RRRC (Hillis df)" if den > 0 else ZERO_VARIANCE
    return SingleTreatment(inf, tuple(foms), ms_r, comp.var, comp.cov2, ms_r - comp.var + comp.cov2, n_cases, method)


@dataclass(frozen=True)
class ORAnalysis:
    """Obuchowski-Rockette analysis of I >= 2 treatments read by the same J >= 2 readers."""

    foms: np.ndarray  # (I, J)
    treatment_means: tuple[float, ...]
    ms_t: float
    ms_r: float
    ms_tr: float
    components: Components
    var_r: float
    var_tr: float
    f_stat: float
    ndf: int
    ddf: float
    p_value: float
    differences: dict[tuple[int, int], Inference]  # (i, i') -> theta_i - theta_i'
    treatments: tuple[SingleTreatment, ...]


def obuchowski_rockette(foms, cov, alpha: float = 0.05, n_cases: int = 0) -> ORAnalysis:
    """RRRC comparison of treatments: F-test (Hillis ddf), CIs of the pairwise differences, and
    per-treatment CIs (see :func:`single_treatment`). ``cov``: (I*J, I*J), treatment-major."""
    foms = np.asarray(foms, dtype=float)
    cov = np.asarray(cov, dtype=float)
    n_t, n_r = foms.shape
    if n_t < 2 or n_r < 2:
        raise ValueError("comparing treatments needs at least two treatments and two readers")
    comp = components(cov, n_t, n_r)
    grand = foms.mean()
    t_means, r_means = foms.mean(axis=1), foms.mean(axis=0)
    ms_t = n_r * ((t_means - grand) ** 2).sum() / (n_t - 1)
    ms_r = n_t * ((r_means - grand) ** 2).sum() / (n_r - 1)
    resid = foms - t_means[:, None] - r_means[None, :] + grand
    ms_tr = (resid ** 2).sum() / ((n_t - 1) * (n_r - 1))
    var_tr = ms_tr - comp.var + comp.cov1 + comp.cov2 - comp.cov3
    var_r = (ms_r - var_tr - comp.var - (n_t - 1) * comp.cov1 + comp.cov2 + (n_t - 1) * comp.cov3) / n_t
    den = ms_tr + n_r * max(comp.cov2 - comp.cov3, 0.0)
    ddf = den ** 2 / (ms_tr ** 2 / ((n_t - 1) * (n_r - 1))) if ms_tr > 0 else np.inf
    f_stat = ms_t / den if den > 0 else np.inf
    p = float(stats.f.sf(f_stat, n_t - 1, ddf)) if np.isfinite(ddf) else float(stats.chi2.sf(f_stat * (n_t - 1),
                                                                                             n_t - 1))
    se = float(np.sqrt(2 * den / n_r))
    diffs = {(a, b): _inference(float(t_means[a] - t_means[b]), se, ddf, 0.0, alpha, clip=False)
             for a in range(n_t) for b in range(a + 1, n_t)}
    singles = []
    for i in range(n_t):
        block = cov[i * n_r:(i + 1) * n_r, i * n_r:(i + 1) * n_r]
        singles.append(single_treatment(foms[i], block, alpha=alpha, n_cases=n_cases, clip=False))
    return ORAnalysis(foms, tuple(map(float, t_means)), float(ms_t), float(ms_r), float(ms_tr), comp, float(var_r),
                      float(var_tr), float(f_stat), n_t - 1, float(ddf), p, diffs, tuple(singles))
