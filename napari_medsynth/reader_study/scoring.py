"""Scoring a Visual Turing test: confusion matrices, SAGE's rates, CIs, tests and agreement.

"Positive" means *called real* (SAGE, Table II):

* accuracy  = correct calls / all calls
* FPR       = synthetic called real / all synthetic   (the generator fooled the reader)
* FNR       = real called synthetic / all real
* precision = real called real / all called real
* tumor accuracy = correct tumor / non-tumor calls / calls on images with known tumor status
  (Han et al., Table 2)

Per reader and group every rate has a 95% Wilson score interval, and accuracy an exact two-sided
binomial test against guessing (p = 0.5): a p-value above 0.05 means the reader could not tell
real from synthetic better than chance in that group.

The ``mean`` row of a group is the unweighted mean of the readers' rates (as SAGE reports). Its
intervals and its test of accuracy against chance are multi-reader multi-case (MRMC): random
readers *and* random cases, Obuchowski-Rockette with Hillis' degrees of freedom, on the images
every reader answered (:mod:`.analysis`, :mod:`.mrmc`). Readers' calls on the same images are
correlated, so neither a pooled binomial test (anticonservative) nor a t-interval over two or
three readers (ignores the cases) is used. Its confusion counts pool all readings. With a
single reader the mean row repeats that reader's row. Fleiss' kappa measures how far readers
agree beyond chance, on the images that every reader answered (the same calls, not the same
rates).

Each row also carries the ROC analysis of the real/synthetic call and its confidence
(:mod:`.analysis`): empirical AUC with a DeLong interval and the binormal AUC per reader, and
the readers' mean AUC with its MRMC interval and test against 0.5 in the mean row.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, fields

import numpy as np
from scipy import stats

from .sheets import Answer, KeyEntry

MEAN = "mean"
ALL_GROUPS = "all"
RATES = ("accuracy", "fpr", "fnr", "precision", "tumor_accuracy")


@dataclass
class Confusion:
    real_as_real: int = 0
    real_as_synthetic: int = 0
    synthetic_as_real: int = 0
    synthetic_as_synthetic: int = 0
    tumor_as_tumor: int = 0
    tumor_as_non_tumor: int = 0
    non_tumor_as_tumor: int = 0
    non_tumor_as_non_tumor: int = 0

    def add(self, truth: KeyEntry, answer: Answer) -> None:
        name = f"{truth.source}_as_{answer.answer}"
        setattr(self, name, getattr(self, name) + 1)
        if truth.tumor is not None and answer.tumor_answer is not None:
            t = "tumor" if truth.tumor else "non_tumor"
            a = "tumor" if answer.tumor_answer else "non_tumor"
            setattr(self, f"{t}_as_{a}", getattr(self, f"{t}_as_{a}") + 1)

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def n(self) -> int:
        return self.real_as_real + self.real_as_synthetic + self.synthetic_as_real + self.synthetic_as_synthetic

    def fraction(self, rate: str) -> tuple[int, int]:
        """(numerator, denominator) of a rate."""
        rr, rs, sr, ss = self.real_as_real, self.real_as_synthetic, self.synthetic_as_real, self.synthetic_as_synthetic
        tt, tn = self.tumor_as_tumor, self.tumor_as_non_tumor
        nt, nn = self.non_tumor_as_tumor, self.non_tumor_as_non_tumor
        return {"accuracy": (rr + ss, self.n), "fpr": (sr, sr + ss), "fnr": (rs, rr + rs),
                "precision": (rr, rr + sr), "tumor_accuracy": (tt + nn, tt + tn + nt + nn)}[rate]

    def rate(self, rate: str) -> float | None:
        k, m = self.fraction(rate)
        return k / m if m else None


def wilson_ci(k: int, n: int, confidence: float = 0.95) -> tuple[float, float] | tuple[None, None]:
    """Wilson score interval for k successes in n trials (no continuity correction)."""
    if n <= 0:
        return None, None
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


def binomial_p(k: int, n: int) -> float | None:
    """Exact two-sided binomial test of k correct out of n against guessing (p = 0.5)."""
    return float(stats.binomtest(k, n, 0.5).pvalue) if n else None


def t_interval(values, confidence: float = 0.95) -> tuple[float, float] | tuple[None, None]:
    """Student-t interval of the mean of ``values``, clipped to 0..1 (readers only: mean rows use
    the MRMC interval instead)."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if v.size < 2:
        return None, None
    half = stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return max(0.0, float(v.mean() - half)), min(1.0, float(v.mean() + half))


def fleiss_kappa(table) -> float | None:
    """Fleiss' kappa of an items x categories table of rater counts (same raters per item)."""
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[0] == 0:
        return None
    raters = t.sum(axis=1)
    if not np.all(raters == raters[0]) or raters[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings for every item")
    n = raters[0]
    p_item = ((t * t).sum(axis=1) - n) / (n * (n - 1))
    p_cat = t.sum(axis=0) / t.sum()
    p_bar, p_e = p_item.mean(), (p_cat ** 2).sum()
    if np.isclose(p_e, 1.0):
        return None  # every rating in one category: agreement beyond chance is undefined
    return float((p_bar - p_e) / (1 - p_e))


@dataclass
class StudyScore:
    """Everything ``study score`` writes: metric rows, MRMC rows, per-image rows, ROC panels."""

    rows: list[dict]
    mrmc: list[dict] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    roc: list = field(default_factory=list)  # analysis.RocPanel per group
    levels: int = 5
    notes: list[str] = field(default_factory=list)


def score(key: dict[str, KeyEntry], answers: list[Answer]) -> list[dict]:
    """Rows for ``metrics.csv``: per group (and ``all`` across groups when there are several),
    one row per reader and a ``mean`` row."""
    return score_study(key, answers).rows


def score_study(key: dict[str, KeyEntry], answers: list[Answer], key_path=None) -> StudyScore:
    """:func:`score` plus the MRMC table, the per-image fooled rates and the ROC curves."""
    from . import analysis

    readers = sorted({a.reader for a in answers})
    groups = sorted({e.group for e in key.values()})
    if len(groups) > 1:
        groups.append(ALL_GROUPS)
    cells: dict[tuple[str, str], Confusion] = defaultdict(Confusion)
    for a in answers:
        truth = key[a.stimulus_id]
        cells[(a.reader, truth.group)].add(truth, a)
        if len(groups) > 1:
            cells[(a.reader, ALL_GROUPS)].add(truth, a)
    levels = analysis.scale_levels(answers)
    out = StudyScore(rows=[], levels=levels)
    for group in groups:
        data = analysis.group_data(key, answers, group, levels)
        reader_rows = []
        for r in readers:
            if cells[(r, group)].n:
                row = _reader_row(r, group, cells[(r, group)])
                row.update(analysis.reader_roc(data, data.readers.index(r)))
                reader_rows.append(row)
        out.rows.extend(reader_rows)
        if not reader_rows:
            continue
        results = analysis.group_mrmc(data) if len(reader_rows) > 1 else {}
        in_group = [e for e in key.values() if group in (ALL_GROUPS, e.group)]
        mean = _mean_row(group, reader_rows, [cells[(r["reader"], group)] for r in reader_rows], in_group, answers,
                         results)
        mean["mrmc_cases"] = int(data.complete.sum()) if len(reader_rows) > 1 else None
        out.rows.append(mean)
        for fom, result in (results or analysis.group_mrmc(data)).items():
            if result is not None:
                out.mrmc.append(analysis.mrmc_row(group, fom, result, len(reader_rows)))
        panel = analysis.roc_panel(data)
        if panel is not None:
            panel.mean_auc, panel.ci = mean.get("auc"), (mean.get("auc_ci_low"), mean.get("auc_ci_high"))
            out.roc.append(panel)
        flat = [f for f in ("auc", "accuracy") if results.get(f) is not None and results[f].inference.se == 0]
        if flat:
            out.notes.append(f"group {group!r}: {' and '.join(flat)} did not vary between readers or images (e.g. "
                             "every reader right on every image): the interval has zero width and the test is "
                             "degenerate; more images or readers are needed to estimate the uncertainty.")
        missing = int((~data.complete).sum())
        if len(reader_rows) > 1 and missing:
            out.notes.append(f"group {group!r}: {missing} image(s) were not answered by every reader and are left "
                             "out of the MRMC intervals and tests.")
    out.images = analysis.image_rows(key, answers, key_path)
    return out


def _reader_row(reader: str, group: str, c: Confusion) -> dict:
    row = {"reader": reader, "group": group, "n": c.n, "n_readers": 1}
    for rate in RATES:
        k, m = c.fraction(rate)
        row[rate] = c.rate(rate)
        row[f"{rate}_ci_low"], row[f"{rate}_ci_high"] = wilson_ci(k, m)
    row["tumor_n"] = c.fraction("tumor_accuracy")[1]
    row["p_value"] = binomial_p(*c.fraction("accuracy"))
    row.update(vars(c))
    return row


def _mean_row(group: str, reader_rows: list[dict], confusions: list[Confusion], entries, answers,
              results: dict) -> dict:
    pooled = sum(confusions, Confusion())
    if len(reader_rows) == 1:
        row = dict(reader_rows[0])
    else:
        row = {"n_readers": len(reader_rows)}
        for name in RATES + ("auc", "auc_binormal"):
            values = [r.get(name) for r in reader_rows]
            row[name] = float(np.mean(values)) if values and None not in values else None
        row["rating_levels"] = max((r.get("rating_levels") or 0) for r in reader_rows) or None
        for name in RATES + ("auc",):
            result = results.get(name)
            inf = result.inference if result is not None and row.get(name) is not None else None
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = (inf.ci_low, inf.ci_high) if inf else (None, None)
            if name in ("accuracy", "auc"):
                row[f"{name}_se"] = inf.se if inf else None
                row[f"{name}_df"] = inf.df if inf and np.isfinite(inf.df) else None
        acc, auc = results.get("accuracy"), results.get("auc")
        row["p_value"] = acc.inference.p_value if acc is not None else None
        row["auc_p_value"] = auc.inference.p_value if auc is not None and row.get("auc") is not None else None
        row["tumor_n"] = pooled.fraction("tumor_accuracy")[1]
        row.update(vars(pooled))
    row.update(reader=MEAN, group=group, n=pooled.n)
    ids = {e.stimulus_id for e in entries}
    row["fleiss_kappa"] = _kappa(answers, ids, lambda a: a.answer == "real")
    row["fleiss_kappa_tumor"] = _kappa(answers, ids, lambda a: a.tumor_answer)
    return row


def _kappa(answers: list[Answer], ids: set[str], call) -> float | None:
    """Fleiss' kappa over the images in ``ids`` that every reader answered."""
    by_item: dict[str, dict[str, bool]] = defaultdict(dict)
    for a in answers:
        value = call(a)
        if a.stimulus_id in ids and value is not None:
            by_item[a.stimulus_id][a.reader] = bool(value)
    readers = {r for calls in by_item.values() for r in calls}
    if len(readers) < 2:
        return None
    complete = [calls for calls in by_item.values() if len(calls) == len(readers)]
    table = [[sum(c.values()), len(readers) - sum(c.values())] for c in complete]
    return fleiss_kappa(table) if table else None
