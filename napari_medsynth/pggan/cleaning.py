"""The Z-score filter of Foroozandeh & Eklund (§3.4) applied to generated label maps.

Synthetic maps are compared pixel by pixel with the real maps of a reference folder (the data
the generator was trained on): :func:`~napari_medsynth.metrics.cleaning.zscore_filter`
standardises every pixel's class value with the real maps' mean and spread at that pixel and
discards maps whose standardised norm exceeds the threshold. The paper's threshold, 500, was set
for 256 x 256 maps; the norm of a map grows with its side (about sqrt(pixels)), so for maps of
another size the threshold is scaled by ``side / 256``. The real maps are prepared exactly as for
training (axial slices padded to 256, nearest-neighbour resize, slices with < 2 % labelled
pixels dropped), but read without their MR so that 256 x 256 references stay small.
"""

from __future__ import annotations

import os

import numpy as np

from ..data.paired import check_complete_classes, find_case_pairs, labelled_slices, prepare_labels
from ..io import VolumeReadError, read_volume
from ..metrics.cleaning import ZScoreReport, zscore_filter
from ..train.data import DatasetError

PAPER_THRESHOLD = 500.0
PAPER_SIZE = 256


def real_label_maps(folder: str | os.PathLike, size: int, modality: str = "t1ce", pad_to: int | None = None,
                    min_label_fraction: float = 0.02) -> np.ndarray:
    """(M, size, size) uint8: every labelled axial slice of the ``_labels7`` maps below ``folder``."""
    maps = []
    for pair in find_case_pairs(folder, modality):
        try:
            labels = read_volume(pair.labels, kind="labels").data
        except VolumeReadError as exc:
            raise DatasetError(str(exc)) from exc
        check_complete_classes(labels, pair.labels.name)
        maps += [prepare_labels(labels[z], size, pad_to) for z in labelled_slices(labels, min_label_fraction)]
    if len(maps) < 2:
        raise DatasetError(f"{folder} has fewer than 2 labelled axial slices; the Z-score filter needs a "
                           "reference set of real label maps")
    return np.stack(maps)


def scaled_threshold(threshold: float, size: int) -> float:
    """``threshold`` given for 256 x 256 maps (the paper's setting), for maps of side ``size``."""
    return float(threshold) * size / PAPER_SIZE


def filter_label_maps(maps: np.ndarray, real: np.ndarray, threshold: float = PAPER_THRESHOLD) -> ZScoreReport:
    """Z-score report for generated ``maps`` (N, S, S) against ``real`` (M, S, S); ``threshold`` in
    the paper's 256 x 256 units (scaled to S, see :func:`scaled_threshold`)."""
    maps, real = np.asarray(maps), np.asarray(real)
    if maps.ndim != 3 or maps.shape[1] != maps.shape[2]:
        raise ValueError(f"expected square maps (N, S, S), got shape {maps.shape}")
    if real.shape[1:] != maps.shape[1:]:
        raise ValueError(f"generated maps are {maps.shape[1]}x{maps.shape[2]} but the real maps are "
                         f"{real.shape[1]}x{real.shape[2]}; compare at one size")
    if not np.isfinite(threshold) or threshold <= 0:
        raise ValueError(f"the threshold must be a positive number, not {threshold}")
    return zscore_filter(maps, real, scaled_threshold(threshold, maps.shape[1]), chunk_size=64)


def report_dict(report: ZScoreReport, threshold: float) -> dict:
    """What the filter did, as plain JSON-ready values."""
    q = np.percentile(report.norms, [0, 50, 90, 100]).round(1).tolist()
    rq = np.percentile(report.real_norms, [0, 50, 90, 100]).round(1).tolist()
    return {
        "threshold_256": float(threshold),
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
