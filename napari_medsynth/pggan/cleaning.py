"""The Z-score filter of Foroozandeh & Eklund (§3.4) applied to generated label maps.

Synthetic maps are compared pixel by pixel with the real maps of a reference folder (the data
the generator was trained on): :func:`~napari_medsynth.metrics.cleaning.zscore_filter`
standardises every pixel's class value with the real maps' mean and spread at that pixel and
discards maps whose standardised norm exceeds the threshold. The paper's threshold, 500, was set
for 256 x 256 maps; the norm of a map grows with its side (about sqrt(pixels)), so for maps of
another size the threshold is scaled by ``side / 256``. The real maps are prepared exactly as for
training (axial slices padded to 256, nearest-neighbour resize, slices with < 2 % labelled
pixels dropped), but read without their MR so that 256 x 256 references stay small.

That filter prefers small brains (see :mod:`napari_medsynth.metrics.cleaning`), so the default
here is ``method="size-matched"``: each map is compared with the real maps of similar brain area,
and the threshold is chosen on the real maps (by default the one 99 % of them pass, each measured
without its own patient's maps).
The paper's filter stays available as ``method="paper"``.
"""

from __future__ import annotations

import os

import numpy as np

from ..data.paired import check_complete_classes, find_case_pairs, labelled_slices, prepare_labels
from ..data.store import is_store, select_case_ids
from ..io import VolumeReadError, read_volume
from ..metrics.cleaning import (
    SizeMatchedReport,
    ZScoreReport,
    pass_rate_by_size,
    size_matched_zscore_filter,
    zscore_filter,
)
from ..train.data import DatasetError

PAPER_THRESHOLD = 500.0
PAPER_SIZE = 256
METHODS = ("size-matched", "paper")
#: Size bins of the size-matched filter and the fraction of real maps its threshold keeps.
SIZE_BINS = 6
REAL_QUANTILE = 0.99


def real_label_maps(folder: str | os.PathLike, size: int, modality: str = "t1ce", pad_to: int | None = None,
                    min_label_fraction: float = 0.02, include: str = "", exclude: str = "",
                    with_cases: bool = False):
    """(M, size, size) uint8: every labelled axial slice of the ``_labels7`` maps below ``folder``, or
    of the cases of a slice store; ``include`` / ``exclude`` choose cases by id (comma-separated).
    With ``with_cases``: (maps, case id of each map)."""
    if is_store(folder):
        from ..data.store import SliceStore
        from ..data.store_datasets import StorePairs

        store = SliceStore.open(folder)
        ds = StorePairs(store, size, modality=store.modalities[0], include=include, exclude=exclude, pad_to=pad_to,
                        min_label_fraction=min_label_fraction)
        maps = ds.label_slices(np.arange(len(ds)))
        return (maps, np.array([c for c, _ in ds.sources])) if with_cases else maps
    maps, cases = [], []
    pairs = find_case_pairs(folder, modality)
    chosen = set(select_case_ids([p.case for p in pairs], include, exclude)) if pairs and (include or exclude) else None
    for pair in pairs:
        if chosen is not None and pair.case not in chosen:
            continue
        if pair.labels is None:
            raise DatasetError(f"case {pair.case} in {folder} has no _labels7 map; the Z-score filter compares "
                               "with complete label maps")
        try:
            labels = read_volume(pair.labels, kind="labels").data
        except VolumeReadError as exc:
            raise DatasetError(str(exc)) from exc
        check_complete_classes(labels, pair.labels.name)
        slices = labelled_slices(labels, min_label_fraction)
        maps += [prepare_labels(labels[z], size, pad_to) for z in slices]
        cases += [pair.case] * len(slices)
    if len(maps) < 2:
        raise DatasetError(f"{folder} has fewer than 2 labelled axial slices; the Z-score filter needs a "
                           "reference set of real label maps")
    return (np.stack(maps), np.array(cases)) if with_cases else np.stack(maps)


def scaled_threshold(threshold: float, size: int) -> float:
    """``threshold`` given for 256 x 256 maps (the paper's setting), for maps of side ``size``."""
    return float(threshold) * size / PAPER_SIZE


def filter_label_maps(maps: np.ndarray, real: np.ndarray, threshold: float | None = None,
                      method: str = "size-matched", real_quantile: float = REAL_QUANTILE,
                      real_cases=None) -> ZScoreReport:
    """Z-score report for generated ``maps`` (N, S, S) against ``real`` (M, S, S).

    ``method="size-matched"`` (default): statistics of the real maps of the same brain area, the
    threshold the ``real_quantile`` quantile of the real maps' own (leave-one-out) norms, each
    real map measured without the maps of its patient when ``real_cases`` names them, or
    ``threshold`` in those units if given. ``method="paper"``: one set of statistics, ``threshold``
    in the paper's 256 x 256 units (default 500, scaled to S, see :func:`scaled_threshold`).
    """
    if method not in METHODS:
        raise ValueError(f"unknown filter method {method!r}; choose {' or '.join(METHODS)}")
    maps, real = np.asarray(maps), np.asarray(real)
    if maps.ndim != 3 or maps.shape[1] != maps.shape[2]:
        raise ValueError(f"expected square maps (N, S, S), got shape {maps.shape}")
    if real.shape[1:] != maps.shape[1:]:
        raise ValueError(f"generated maps are {maps.shape[1]}x{maps.shape[2]} but the real maps are "
                         f"{real.shape[1]}x{real.shape[2]}; compare at one size")
    if threshold is not None and (not np.isfinite(threshold) or threshold <= 0):
        raise ValueError(f"the threshold must be a positive number, not {threshold}")
    if method == "paper":
        threshold = PAPER_THRESHOLD if threshold is None else threshold
        return zscore_filter(maps, real, scaled_threshold(threshold, maps.shape[1]), chunk_size=64)
    bins = min(SIZE_BINS, len(real) // 3)
    if bins < 1:
        raise DatasetError(f"{len(real)} real maps are too few for the size-matched filter (at least 3)")
    if real_cases is not None and len(set(np.asarray(real_cases).tolist())) < 2:
        real_cases = None  # one patient: nothing to leave out but the slice itself
    return size_matched_zscore_filter(maps.astype(np.float32), real.astype(np.float32), bins=bins,
                                      real_quantile=real_quantile, threshold=threshold, groups=real_cases,
                                      chunk_size=64)


def report_dict(report: ZScoreReport, threshold: float | None = None) -> dict:
    """What the filter did, as plain JSON-ready values."""
    q = np.percentile(report.norms, [0, 50, 90, 100]).round(1).tolist()
    rq = np.percentile(report.real_norms, [0, 50, 90, 100]).round(1).tolist()
    out = {"method": "paper"}
    if isinstance(report, SizeMatchedReport):
        out = {"method": "size-matched", "real_quantile": report.real_quantile,
               "size_bins": [round(float(e), 4) for e in report.edges],
               "kept_by_brain_size": pass_rate_by_size(report.sizes, report.keep, report.edges),
               "real_kept_by_brain_size": pass_rate_by_size(report.real_sizes, report.real_norms <= report.threshold,
                                                            report.edges)}
    return {
        **out,
        "threshold_256": float(threshold) if out["method"] == "paper" and threshold is not None else None,
        "threshold_applied": report.threshold,
        "n_maps": int(len(report.keep)),
        "n_kept": int(report.keep.sum()),
        "n_discarded": report.n_discarded,
        "fraction_kept": round(1.0 - report.fraction_discarded, 4),
        "discarded_indices": report.discarded.tolist(),
        "norms_min_median_p90_max": q,
        "real_maps": int(len(report.real_norms)),
        "real_fraction_over_threshold": round(report.real_fraction_over, 4),
        "real_norms_min_median_p90_max": rq,
        "summary": report.summary(),
    }
