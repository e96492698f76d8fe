"""``report.md`` of a scored reader study: the numbers a paper needs, with the ROC figure.

Sections: summary per group (mean AUC and accuracy with their random-reader random-case 95%
intervals and tests against chance, Fleiss' kappa), the per-reader table, the MRMC table with
variance components, the images that fooled the readers most and least, the methods in words
(with references), and notes. Written next to ``metrics.csv``, ``mrmc.csv``, ``images.csv`` and
the figures it embeds.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .. import __version__
from .scoring import MEAN, StudyScore

TOP_IMAGES = 10


def _f(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _p(value) -> str:
    if value is None:
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _ci(row: dict, name: str, digits: int = 2) -> str:
    value, low, high = row.get(name), row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
    if value is None:
        return "–"
    return _f(value, digits) + (f" [{low:.{digits}f}, {high:.{digits}f}]" if low is not None else "")


def _table(head: list[str], lines: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    return out + [""]


def verdict(row: dict) -> str:
    """One sentence on the group's mean AUC against chance."""
    auc, low, high, p = row.get("auc"), row.get("auc_ci_low"), row.get("auc_ci_high"), row.get("auc_p_value")
    if auc is None:
        return "No AUC (the group needs real and synthetic images)."
    if low is None or p is None:
        return f"Mean AUC {auc:.2f} (no interval: it needs two or more readers and images of both kinds)."
    if p >= 0.05:
        return (f"Mean AUC {auc:.2f} [{low:.2f}, {high:.2f}], p = {_p(p)}: the interval includes 0.5; no evidence "
                "that these readers tell the synthetic images from real ones better than chance.")
    side = "told synthetic from real better than chance" if auc > 0.5 else "took the synthetic images for the real ones"
    return f"Mean AUC {auc:.2f} [{low:.2f}, {high:.2f}], p = {_p(p)}: the readers {side}."


def report_markdown(result: StudyScore, key_path, answer_paths, files: dict[str, str]) -> str:
    """The report text; ``files`` names the written files (``roc``, ``confusion``, ``metrics``,
    ``mrmc``, ``images``) relative to the report."""
    rows = result.rows
    readers = sorted({r["reader"] for r in rows if r["reader"] != MEAN})
    means = [r for r in rows if r["reader"] == MEAN]
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    n_images = len(result.images)
    n_synth = sum(i["source"] == "synthetic" for i in result.images)
    lines = ["# Reader study results", "",
             f"Key `{key_path}`; {len(list(answer_paths))} answer file(s); {len(readers)} reader(s) "
             f"({', '.join(readers)}); {n_images} images ({n_images - n_synth} real, {n_synth} synthetic). "
             f"Scored {stamp} with napari-medsynth {__version__}.", "",
             "AUC 0.5 means the readers cannot tell real from synthetic images; 1 means they always can. "
             "Intervals are 95%.", "", "## Summary", ""]
    lines += _table(["group", "readers", "images", "mean AUC [95% CI]", "p (AUC = 0.5)", "accuracy [95% CI]",
                     "p (acc. = 0.5)", "Fleiss κ"],
                    [[m["group"], str(m.get("n_readers", 1)), str(m.get("mrmc_cases") or "–"), _ci(m, "auc"),
                      _p(m.get("auc_p_value")), _ci(m, "accuracy"), _p(m.get("p_value")),
                      _f(m.get("fleiss_kappa"))] for m in means])
    lines += [f"* **{m['group']}**: {verdict(m)}" for m in means] + [""]
    if files.get("roc"):
        lines += [f"![ROC curves per group]({files['roc']})", "",
                  "*Empirical ROC curve of each reader, all readings pooled (bold) and the binormal fit of the "
                  "pooled ratings (dashed). Rating scale: real/synthetic call × confidence "
                  f"({2 * result.levels} points).*", ""]
    lines += ["## Per reader", ""]
    lines += _table(["reader", "group", "n", "AUC [95% CI]", "binormal AUC [95% CI]", "accuracy [95% CI]", "FPR",
                     "FNR", "p (acc.)"],
                    [[r["reader"], r["group"], str(r["n"]), _ci(r, "auc"), _ci(r, "auc_binormal"),
                      _ci(r, "accuracy"), _f(r.get("fpr")), _f(r.get("fnr")), _p(r.get("p_value"))]
                     for r in rows if r["reader"] != MEAN])
    lines += ["## MRMC analysis (random readers, random cases)", ""]
    lines += _table(["group", "FOM", "readers", "images", "estimate", "SE", "df", "95% CI", "p (= 0.5)",
                     "σ²(reader)", "Var(error)", "Cov2"],
                    [[m["group"], m["fom"], str(m["n_readers"]), str(m["n_cases"]), _f(m["estimate"], 3),
                      _f(m["se"], 4), _f(m["df"], 1) if m["df"] is not None else "∞",
                      f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}]", _p(m["p_value"]), _f(m["var_reader"], 5),
                      _f(m["var_error"], 5), _f(m["cov2"], 5)] for m in result.mrmc])
    synthetic = [i for i in result.images if i["source"] == "synthetic" and i["n_readers"]]
    if synthetic:
        lines += ["## Synthetic images: which fool the readers", "",
                  f"Fooled rate = share of readers who called the synthetic image real. Most fooling first; "
                  f"all images in `{files.get('images', 'images.csv')}`.", ""]
        head = ["id", "group", "fooled", "origin", "provenance"]

        def line(i):
            return [i["stimulus_id"], i["group"], f"{i['n_called_real']}/{i['n_readers']}", f"`{i['origin']}`",
                    f"`{i['provenance']}`" if i["provenance"] else "–"]

        lines += _table(head, [line(i) for i in synthetic[:TOP_IMAGES]])
        if len(synthetic) > 2 * TOP_IMAGES:
            lines += ["Least fooling (the readers saw through them):", ""]
            lines += _table(head, [line(i) for i in synthetic[::-1][:TOP_IMAGES]])
    lines += ["## Methods", "", METHODS.format(levels=result.levels, points=2 * result.levels), ""]
    if result.notes:
        lines += ["## Notes", ""] + [f"* {n}" for n in result.notes] + [""]
    lines += ["Files: " + ", ".join(f"`{v}`" for v in files.values()), ""]
    return "\n".join(lines)


METHODS = """\
Each answer's real/synthetic call and its confidence (1 = guess … {levels} = certain; an answer
without confidence counts as a guess) form one {points}-point rating of how synthetic the image
looked (1 = certainly real … {points} = certainly synthetic); synthetic images are the positives.
Per reader: empirical (trapezoidal, Wilcoxon) AUC with a DeLong et al. (1988) 95% interval and
z-test against 0.5, and the binormal AUC from the maximum-likelihood fit of Dorfman & Alf (1969)
(delta-method interval; equal-variance model for two-point ratings; no fit without an interior
operating point). Accuracy and the other rates per reader: Wilson intervals, exact binomial test.
Readers' means: Obuchowski–Rockette analysis with random readers and random cases (Obuchowski &
Rockette 1995), error covariances by the jackknife over images, Hillis (2007) degrees of freedom,
on the images every reader answered; each group and all images together are analysed as one
modality (the groups hold different images). Agreement: Fleiss' kappa. The implementation
reproduces the published analysis of the Van Dyke et al. (1993) data (RJafroc `dataset02`).
"""
