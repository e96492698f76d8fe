"""Organizer workflows over whole folders: offline export, merging sessions, scoring to files.

Scoring writes ``metrics.csv`` (per reader and group, and the readers' mean), ``mrmc.csv``
(random-reader random-case analysis per group and figure of merit), ``images.csv`` (per image:
how many readers called it real, i.e. the fooled rate of a synthetic image, and its provenance
sidecar), ``roc_curves.png``, ``confusion_matrices.png`` and ``report.md``.

Offline mode is how SAGE ran its test: readers get a folder of PNGs named by random numbers and
a sheet to fill, in any image viewer and spreadsheet. The exported PNGs are byte copies of the
study's stimuli (same anonymization), copied in id order so file dates carry no information.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..io import atomic_write_text
from .figures import confusion_figure, roc_figure
from .report import report_markdown
from .scoring import RATES, score_study
from .sheets import AnswerSet, csv_text, read_answers, read_key, write_answers, write_blank_sheet
from .study import StudyError, load_study

SHEET_NAME = "answer_sheet.csv"
INSTRUCTIONS_NAME = "INSTRUCTIONS.txt"
METRICS_NAME = "metrics.csv"
FIGURE_NAME = "confusion_matrices.png"
MRMC_NAME = "mrmc.csv"
IMAGES_NAME = "images.csv"
ROC_NAME = "roc_curves.png"
REPORT_NAME = "report.md"

_COUNTS = ("real_as_real", "real_as_synthetic", "synthetic_as_real", "synthetic_as_synthetic",
           "tumor_as_tumor", "tumor_as_non_tumor", "non_tumor_as_tumor", "non_tumor_as_non_tumor")
_AUC = ("auc", "auc_ci_low", "auc_ci_high", "auc_p_value", "auc_binormal", "auc_binormal_ci_low",
        "auc_binormal_ci_high")
METRIC_COLUMNS = (("reader", "group", "n") + RATES + ("tumor_n", "p_value") + _AUC
                  + ("fleiss_kappa", "fleiss_kappa_tumor", "n_readers", "mrmc_cases", "rating_levels")
                  + tuple(f"{r}_ci_{end}" for r in RATES for end in ("low", "high"))
                  + ("accuracy_se", "accuracy_df", "auc_se", "auc_df") + _COUNTS)
MRMC_COLUMNS = ("group", "fom", "method", "n_readers", "n_cases", "estimate", "se", "df", "ci_low", "ci_high", "null",
                "t", "p_value", "ms_r", "var_reader", "var_error", "cov2")
IMAGE_COLUMNS = ("stimulus_id", "group", "source", "n_readers", "n_called_real", "called_real_rate", "fooled_rate",
                 "mean_confidence", "origin", "provenance")


def export_offline(study_folder: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Copy the stimuli to ``out`` and write a blank answer sheet and reader instructions."""
    study = load_study(study_folder)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise StudyError(f"{out} already exists and is not empty; choose a new folder.")
    out.mkdir(parents=True, exist_ok=True)
    for sid in study.stimulus_ids:  # sorted ids: copy order is unrelated to the sources
        shutil.copyfile(study.stimulus_path(sid), out / f"{sid}.png")
    s = study.settings
    write_blank_sheet(out / SHEET_NAME, study.stimulus_ids, confidence=bool(s.confidence_levels))
    atomic_write_text(out / INSTRUCTIONS_NAME, _instructions(s))
    return out


def _instructions(settings) -> str:
    lines = [
        f"Reader study: {settings.title}",
        "",
        f"This folder holds {settings.n_stimuli} images. Some are real MR images, some are synthetic.",
        f"Open {SHEET_NAME} in a spreadsheet program and fill one row per image:",
        "  answer:       R (real) or F (fake / synthetic)",
    ]
    if settings.ask_tumor:
        lines.append("  tumor_answer: yes (tumor visible) or no")
    if settings.confidence_levels:
        lines.append(f"  confidence:   1 (guess) to {settings.confidence_levels} (certain)")
    lines += ["  reader:       your reader id (or leave empty and name the file after yourself)",
              "", "Please do not rename the images. Save the sheet as CSV and return it to the study organizer.", ""]
    return "\n".join(lines)


def merge_sessions(session_files, out_csv: str | os.PathLike, key_path: str | os.PathLike | None = None) -> AnswerSet:
    """One answer CSV (``stimulus_id,answer,tumor_answer,reader,confidence``) from readers' session
    files; with a key, ids are checked against it."""
    key = read_key(key_path) if key_path else None
    found = read_answers(session_files, key)
    write_answers(out_csv, found.answers)
    return found


@dataclass
class ScoreResult:
    rows: list[dict]
    metrics_path: Path
    figure_path: Path
    notes: list[str]
    mrmc: list[dict] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    mrmc_path: Path | None = None
    images_path: Path | None = None
    roc_path: Path | None = None
    report_path: Path | None = None


def score_files(key_path: str | os.PathLike, answer_paths, out: str | os.PathLike) -> ScoreResult:
    """Read the key and the answers (sheets and/or session files) and write the metrics, MRMC
    and per-image tables, the ROC and confusion-matrix figures and ``report.md`` into ``out``."""
    key = read_key(key_path)
    answer_paths = list(answer_paths)
    found = read_answers(answer_paths, key)
    if not found.answers:
        raise StudyError("the answer files hold no answers to score.")
    scored = score_study(key, found.answers, key_path)
    notes = found.notes + scored.notes
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = atomic_write_text(out / METRICS_NAME, metrics_csv(scored.rows))
    mrmc = atomic_write_text(out / MRMC_NAME, table_csv(MRMC_COLUMNS, scored.mrmc, digits=6))
    images = atomic_write_text(out / IMAGES_NAME, table_csv(IMAGE_COLUMNS, scored.images))
    figure = out / FIGURE_NAME
    confusion_figure(scored.rows, figure)
    roc = out / ROC_NAME
    roc_figure(scored.roc, roc)
    scored.notes = notes
    files = {"roc": ROC_NAME, "confusion": FIGURE_NAME, "metrics": METRICS_NAME, "mrmc": MRMC_NAME,
             "images": IMAGES_NAME}
    report = atomic_write_text(out / REPORT_NAME, report_markdown(scored, key_path, answer_paths, files))
    return ScoreResult(scored.rows, metrics, figure, notes, scored.mrmc, scored.images, mrmc, images, roc, report)


def _cell(value, digits: int = 0) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if digits:  # significant digits (variance components are small numbers)
            return f"{value:.{digits}g}"
        return f"{value:.4f}" if abs(value) >= 1e-4 or value == 0 else f"{value:.3g}"
    return str(value)


def table_csv(columns, rows: list[dict], digits: int = 0) -> str:
    return csv_text(columns, [[_cell(row.get(c), digits) for c in columns] for row in rows])


def metrics_csv(rows: list[dict]) -> str:
    return table_csv(METRIC_COLUMNS, rows)


def format_table(rows: list[dict]) -> str:
    """A compact text table for the terminal."""
    head = (f"{'reader':<12}{'group':<12}{'n':>5}{'ACC':>7}{'FPR':>7}{'FNR':>7}{'PR':>7}{'tumor':>7}{'p':>9}"
            f"{'AUC':>7}{'95% CI':>14}{'p(AUC)':>9}")
    out = [head]
    for r in rows:
        vals = "".join(f"{r[k]:>7.2f}" if r.get(k) is not None else f"{'-':>7}" for k in RATES)
        p = f"{r['p_value']:>9.3g}" if r.get("p_value") is not None else f"{'-':>9}"
        auc = f"{r['auc']:>7.2f}" if r.get("auc") is not None else f"{'-':>7}"
        ci = (f"{r['auc_ci_low']:.2f}-{r['auc_ci_high']:.2f}" if r.get("auc_ci_low") is not None else "-")
        p_auc = f"{r['auc_p_value']:>9.3g}" if r.get("auc_p_value") is not None else f"{'-':>9}"
        out.append(f"{r['reader'][:11]:<12}{r['group'][:11]:<12}{r['n']:>5}{vals}{p}{auc}{ci:>14}{p_auc}")
    return "\n".join(out)
