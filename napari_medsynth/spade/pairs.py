"""Provenance of a synthetic label-map / MR pair, and saving the pair as a case folder.

A saved pair is a BraTS-style case folder ``<folder>/<stem>/`` holding
``<stem>_labels7.nii.gz`` (the 7-class map), ``<stem>_<sequence>.nii.gz`` for each rendered
sequence (T1-Gd, and T1, T2, FLAIR when the renderer makes them; float32 in [0, 1]) and
``<stem>.json`` (how they were made), so napari-medsynth's reader, the paired
training dataset and a reader study open it like any case. Every file is written atomically;
the sidecar is written last, so a folder with a sidecar holds a complete pair.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from pathlib import Path

import numpy as np

from .. import __version__
from ..io import write_volume
from ..io.atomic import atomic_write_text
from .label_maps import CANVAS, validate_map

SOURCES = ("drawn", "pggan", "volume")
_STEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def provenance(source: str, renderer=None, style_seed: int | None = None, *, sampler=None,
               sampler_seed: int | None = None, volume_path: str | None = None, slice_index: int | None = None,
               layer_name: str | None = None, template: str | None = None, edited: bool = False,
               renderer_checkpoint: str | None = None, sampler_checkpoint: str | None = None) -> dict:
    """Everything needed to reproduce a pair: where the map came from, which models and seeds.

    ``source`` is "drawn" (painted, starting from ``template``), "pggan" (sampled with
    ``sampler`` and ``sampler_seed``) or "volume" (slice ``slice_index`` of a label volume).
    ``renderer`` / ``sampler`` are anything with ``sha256`` and ``size`` (``SpadeRenderer``,
    ``LabelMapSampler``); ``edited`` says the map was painted on after it was created.
    ``*_checkpoint`` name the files the models came from ("shipped:<name>" for the defaults).
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    record: dict = {"source": source, "edited": bool(edited), "napari_medsynth_version": __version__}
    if source == "drawn":
        record["template"] = template
    if source == "pggan":
        record["sampler"] = _model(sampler, sampler_checkpoint)
        record["sampler_seed"] = sampler_seed
    if source == "volume":
        record["volume_path"] = volume_path or None
        record["layer"] = layer_name
        record["slice_index"] = slice_index
    record["renderer"] = _model(renderer, renderer_checkpoint)
    record["style_seed"] = style_seed  # None: the renderer's mean style
    return record


def _model(model, checkpoint: str | None) -> dict | None:
    if model is None:
        return None
    return {"sha256": getattr(model, "sha256", None), "size": getattr(model, "size", None),
            "checkpoint": str(checkpoint) if checkpoint else None}


def pair_paths(folder: str | os.PathLike, stem: str, modalities=("t1ce",)) -> dict[str, Path]:
    """The files of a pair: ``labels``, ``provenance``, ``mr_<sequence>`` for each sequence and
    ``mr``, the T1-Gd image (or the only / first sequence)."""
    case = Path(folder) / stem
    paths = {"labels": case / f"{stem}_labels7.nii.gz", "provenance": case / f"{stem}.json"}
    for m in modalities:
        paths[f"mr_{m}"] = case / f"{stem}_{m}.nii.gz"
    paths["mr"] = paths["mr_t1ce"] if "t1ce" in modalities else paths[f"mr_{modalities[0]}"]
    return paths


def check_stem(stem: str) -> str:
    stem = (stem or "").strip()
    if not _STEM.match(stem):
        raise ValueError(f"{stem!r} cannot name a case: use letters, digits, '.', '_' or '-' "
                         "(e.g. SYN-0001), starting with a letter or digit")
    if stem.lower().endswith(("_t1ce", "_labels7", "_seg", "_t1", "_t2", "_flair")):
        raise ValueError(f"{stem!r} ends like a modality; name the case only (e.g. SYN-0001)")
    return stem


def save_pair(folder: str | os.PathLike, stem: str, labels: np.ndarray, mr: np.ndarray, prov: dict,
              overwrite: bool = False, modalities=("t1ce",)) -> dict[str, Path]:
    """Write the case folder ``<folder>/<stem>/`` (labels, one MR file per sequence, sidecar);
    returns the paths (:func:`pair_paths`).

    ``mr`` is (H, W) for one sequence or (M, H, W) for the M ``modalities`` rendered together.
    Refuses (``FileExistsError``) to replace an existing pair unless ``overwrite``. The pixel
    size written is that of the 256 mm canvas at the map's size (1 mm at 256 px).
    """
    stem = check_stem(stem)
    lab = validate_map(labels)
    img = np.asarray(mr, dtype=np.float32)
    images = img[None] if img.ndim == 2 else img
    modalities = tuple(modalities)
    if images.shape[0] != len(modalities):
        raise ValueError(f"{images.shape[0]} MR image(s) for {len(modalities)} sequence name(s) "
                         f"({', '.join(modalities)})")
    if images.shape[1:] != lab.shape:
        raise ValueError(f"MR {images.shape[1:]} and label map {lab.shape} differ in shape")
    if not np.all(np.isfinite(images)):
        raise ValueError("the MR holds NaN or infinite values; render it again")
    paths = pair_paths(folder, stem, modalities)
    if not overwrite and any(p.exists() for p in paths.values()):
        raise FileExistsError(f"{paths['labels'].parent} already holds a pair named {stem}; "
                              "choose another name")
    spacing = (1.0, CANVAS / lab.shape[0], CANVAS / lab.shape[1])
    write_volume(paths["labels"], lab, kind="labels", spacing=spacing)
    for m, image in zip(modalities, images):
        write_volume(paths[f"mr_{m}"], image, kind="image", spacing=spacing)
    sidecar = {
        **prov,
        "files": {"labels": paths["labels"].name, "mr": paths["mr"].name,
                  "sequences": {m: paths[f"mr_{m}"].name for m in modalities}},
        "shape": list(lab.shape),
        "classes_present": sorted(int(v) for v in np.unique(lab)),
        "saved": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_text(paths["provenance"], json.dumps(sidecar, indent=2) + "\n")
    return paths
