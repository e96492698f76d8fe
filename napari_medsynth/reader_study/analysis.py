"""From a key and answers to ROC curves, MRMC statistics and per-image fooled rates.

The rating scale. Readers call each image real or synthetic and, where the study asks, say how
sure they are (1 = guess ... L = certain, L = 5 by default). Call and confidence combine into one
ordinal "synthetic-ness" rating on 2L points (1-10 for a 1-5 scale)::

    real, certain (5) -> 1   ...   real, guess (1) -> 5 | synthetic, guess (1) -> 6 ... synthetic, certain -> 10

An answer without a confidence counts as a guess (rating 5 or 6), so a study without the
confidence question has a two-point scale and its AUC equals (sensitivity + specificity) / 2.
Synthetic images are the positives: AUC is the chance that a reader rates a random synthetic
image as more synthetic than a random real one. **AUC 0.5 = readers cannot tell real from
synthetic** (the synthetic images pass); 1 = always told apart; below 0.5 = the synthetic images
look *more* real than the real ones.

Groups. A study's groups are data classes (e.g. control / mutated, tumor / non-tumor), each with
its own real and synthetic images; the images of two groups are different cases, so groups are
not "modalities" read on the same cases. Each group, and ``all`` (every image of the study), is
therefore analysed as one modality: random-reader random-case (Obuchowski-Rockette, Hillis df)
interval of the readers' mean and the test against chance (AUC 0.5, rates 0.5), on the images
that every reader answered (:mod:`.mrmc`). :func:`~.mrmc.obuchowski_rockette` compares
modalities where the same cases were read under each (e.g. the Van Dyke data in the tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import mrmc, roc
from .scoring import ALL_GROUPS, RATES, Confusion
from .sheets import Answer, KeyEntry

POSITIVE = "synthetic"
DEFAULT_LEVELS = 5
FOMS = ("auc",) + RATES
#: figures of merit tested against chance (0.5); the other rates have no "chance" value
CHANCE = {"auc": 0.5, "accuracy": 0.5, "tumor_accuracy": 0.5}


def scale_levels(answers: list[Answer]) -> int:
    """L of the 1..L confidence scale: 5, or the highest confidence given when that is more."""
    given = [a.confidence for a in answers if a.confidence is not None]
    return max([DEFAULT_LEVELS] + [int(c) for c in given])


def rating(answer: Answer, levels: int = DEFAULT_LEVELS) -> int:
    """The 1..2L synthetic-ness rating of an answer (see the module docstring)."""
    c = int(np.clip(answer.confidence if answer.confidence is not None else 1, 1, levels))
    return levels + c if answer.answer == POSITIVE else levels + 1 - c


@dataclass
class GroupData:
    """The answers of one group as arrays: readers x images."""

    group: str
    readers: list[str]
    ids: list[str]
    synthetic: np.ndarray  # (K,) bool
    ratings: np.ndarray  # (J, K) float, nan where a reader did not answer
    answers: dict[tuple[int, int], Answer] = field(repr=False)
    truth: list[KeyEntry] = field(repr=False)

    @property
    def complete(self) -> np.ndarray:
        """Images every reader answered."""
        return ~np.isnan(self.ratings).any(axis=0)


def group_data(key: dict[str, KeyEntry], answers: list[Answer], group: str, levels: int) -> GroupData:
    entries = sorted((e for e in key.values() if group in (ALL_GROUPS, e.group)), key=lambda e: e.stimulus_id)
    col = {e.stimulus_id: k for k, e in enumerate(entries)}
    mine = [a for a in answers if a.stimulus_id in col]
    readers = sorted({a.reader for a in mine})
    row = {r: j for j, r in enumerate(readers)}
    ratings = np.full((len(readers), len(entries)), np.nan)
    by_cell = {}
    for a in mine:
        j, k = row[a.reader], col[a.stimulus_id]
        ratings[j, k] = rating(a, levels)
        by_cell[(j, k)] = a
    synthetic = np.array([e.source == POSITIVE for e in entries], dtype=bool)
    return GroupData(group, readers, [e.stimulus_id for e in entries], synthetic, ratings, by_cell, entries)


# ---- per reader -------------------------------------------------------------------------------

def reader_roc(data: GroupData, j: int) -> dict:
    """AUC columns of one reader's row: empirical AUC (DeLong CI, z-test against 0.5) and the
    binormal ML AUC, on the images this reader answered."""
    answered = ~np.isnan(data.ratings[j])
    r, s = data.ratings[j, answered], data.synthetic[answered]
    out = {"auc": None, "auc_ci_low": None, "auc_ci_high": None, "auc_p_value": None, "auc_se": None,
           "auc_binormal": None,
           "auc_binormal_ci_low": None, "auc_binormal_ci_high": None, "rating_levels": len(np.unique(r)) or None}
    if not s.any() or s.all():
        return out  # AUC needs real and synthetic images
    est = roc.auc_with_ci(r[~s], r[s])
    out.update(auc=est.auc, auc_ci_low=est.ci_low, auc_ci_high=est.ci_high, auc_p_value=est.p_value, auc_se=est.se)
    fit = roc.binormal_fit(r[~s], r[s])
    if fit is not None:
        out.update(auc_binormal=fit.auc, auc_binormal_ci_low=fit.ci_low, auc_binormal_ci_high=fit.ci_high)
    return out


# ---- MRMC -------------------------------------------------------------------------------------

def group_mrmc(data: GroupData) -> dict[str, mrmc.SingleTreatment | None]:
    """Random-reader random-case analysis of each FOM, on the images every reader answered."""
    done = data.complete
    out: dict[str, mrmc.SingleTreatment | None] = {name: None for name in FOMS}
    if not data.readers or done.sum() < 2:
        return out
    ratings, synthetic = data.ratings[:, done], data.synthetic[done]
    k_cases = int(done.sum())
    if 2 <= synthetic.sum() <= synthetic.size - 2:
        foms, jk = mrmc.jackknife_auc(ratings[None, :, ~synthetic], ratings[None, :, synthetic])
        out["auc"] = mrmc.single_treatment(foms[0], mrmc.jackknife_covariance(jk), CHANCE["auc"], n_cases=k_cases)
    columns = np.flatnonzero(done)
    for rate in RATES:
        num = np.zeros((1, len(data.readers), columns.size))
        den = np.zeros_like(num)
        for j in range(len(data.readers)):
            for c, k in enumerate(columns):
                one = Confusion()
                one.add(data.truth[k], data.answers[(j, k)])
                num[0, j, c], den[0, j, c] = one.fraction(rate)
        found = mrmc.jackknife_proportion(num, den)
        if found is not None:
            foms, jk = found
            out[rate] = mrmc.single_treatment(foms[0], mrmc.jackknife_covariance(jk), CHANCE.get(rate, 0.5),
                                              n_cases=int(den.any(axis=(0, 1)).sum()))
    return out


def mrmc_row(group: str, fom: str, result: mrmc.SingleTreatment, n_readers: int) -> dict:
    inf = result.inference
    tested = fom in CHANCE
    return {"group": group, "fom": fom, "method": result.method, "n_readers": n_readers, "n_cases": result.n_cases,
            "estimate": inf.estimate, "se": inf.se, "df": inf.df if np.isfinite(inf.df) else None,
            "ci_low": inf.ci_low, "ci_high": inf.ci_high, "null": inf.null if tested else None,
            "t": inf.t if tested else None, "p_value": inf.p_value if tested else None,
            "ms_r": result.ms_r, "var_error": result.var, "cov2": result.cov2, "var_reader": result.var_r}


# ---- ROC curves for the figure ----------------------------------------------------------------

@dataclass
class RocPanel:
    group: str
    readers: dict[str, tuple[np.ndarray, np.ndarray, float]]  # reader -> (fpf, tpf, auc)
    pooled: tuple[np.ndarray, np.ndarray, float] | None
    fit: roc.BinormalFit | None
    mean_auc: float | None = None
    ci: tuple[float | None, float | None] = (None, None)


def roc_panel(data: GroupData) -> RocPanel | None:
    if not data.synthetic.any() or data.synthetic.all():
        return None
    readers = {}
    neg_all, pos_all = [], []
    for j, reader in enumerate(data.readers):
        answered = ~np.isnan(data.ratings[j])
        r, s = data.ratings[j, answered], data.synthetic[answered]
        if s.any() and not s.all():
            fpf, tpf = roc.operating_points(r[~s], r[s])
            readers[reader] = (fpf, tpf, roc.empirical_auc(r[~s], r[s]))
            neg_all.append(r[~s])
            pos_all.append(r[s])
    if not readers:
        return None
    neg, pos = np.concatenate(neg_all), np.concatenate(pos_all)
    fpf, tpf = roc.operating_points(neg, pos)
    return RocPanel(data.group, readers, (fpf, tpf, roc.empirical_auc(neg, pos)), roc.binormal_fit(neg, pos))


# ---- per image --------------------------------------------------------------------------------

def image_rows(key: dict[str, KeyEntry], answers: list[Answer], key_path=None) -> list[dict]:
    """One row per image: how many readers called it real. For a synthetic image that is the
    fooled rate (the readers it fooled); for a real one, 1 - rate = readers who took it for
    synthetic. Synthetic images first, most fooling first; then real images, most doubted first."""
    by_id: dict[str, list[Answer]] = {}
    for a in answers:
        by_id.setdefault(a.stimulus_id, []).append(a)
    base = Path(key_path).resolve().parent if key_path else None
    rows = []
    for sid, e in key.items():
        got = by_id.get(sid, [])
        n_real = sum(a.answer == "real" for a in got)
        rate = n_real / len(got) if got else None
        conf = [a.confidence for a in got if a.confidence is not None]
        rows.append({"stimulus_id": sid, "group": e.group, "source": e.source, "n_readers": len(got),
                     "n_called_real": n_real, "called_real_rate": rate,
                     "fooled_rate": rate if e.source == POSITIVE else None,
                     "mean_confidence": float(np.mean(conf)) if conf else None,
                     "origin": e.origin, "provenance": provenance_sidecar(e.origin, base)})

    def order(row):
        rate = row["called_real_rate"]
        rate = -1.0 if rate is None else rate
        return (row["source"] != POSITIVE, -rate if row["source"] == POSITIVE else rate, row["stimulus_id"])

    return sorted(rows, key=order)


_INDEX = re.compile(r"\s*\[[^\[\]]*\]\s*$")  # "file.npy[3]", "vol.nii.gz[axial 80]"
_MODALITY = ("_t1ce", "_t1", "_t2", "_flair", "_seg", "_label", "_labels7", "_mask")


def provenance_sidecar(origin: str, base: str | Path | None = None) -> str:
    """The provenance sidecar ``<stem>.json`` next to an image's source file (SAGE samples,
    SPADE pairs ``<case>/<case>.json`` beside ``<case>_t1ce.nii.gz``); "" when there is none
    (arrays handed over in memory, files without a sidecar). Relative origins are looked up from
    the working folder and from ``base`` (the key's folder)."""
    text = _INDEX.sub("", origin or "").strip()
    if not text:
        return ""
    path = Path(text)
    candidates = [path] if path.is_absolute() else [Path.cwd() / path] + ([Path(base) / path] if base else [])
    for candidate in candidates:
        name = candidate.name
        stem = name[:-7] if name.lower().endswith(".nii.gz") else Path(name).stem
        stems = [stem] + [stem[: -len(s)] for s in _MODALITY if stem.lower().endswith(s) and len(stem) > len(s)]
        for s in stems:
            sidecar = candidate.with_name(f"{s}.json")
            if sidecar.is_file() and sidecar != candidate:
                return str(sidecar)
    return ""
