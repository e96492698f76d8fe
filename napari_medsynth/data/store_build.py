"""Building a slice store (:mod:`.store`) from a folder of BraTS case folders.

Per case: the chosen modalities are read (:func:`~..io.case.read_case_volume`, both BraTS namings),
each scaled to [-1, 1] by its own 0.5-99.5 percentiles, computed over the whole volume as
:class:`~.paired.PairedSliceDataset` does (``normalize="volume"``; ``"brain"``: over its non-zero
voxels only), and stored as float16 on the native grid. The complete map comes from, in order,
the case's ``_labels7`` file, its ``_seg`` with a ``_tissues`` map
(:func:`~..labels.brats_to_complete7`), or the tissue step
:func:`napari_medsynth.case_tissues.labels7_for_case`; the manifest records which.

Grade or class per case, in order: ``classes`` (a dict case -> class or a CSV file with columns
case,class), a BraTS 2019/2020 ``name_mapping.csv`` (columns ``Grade`` and ``BraTS_20xx_subject_ID``)
in ``root`` or a folder directly below it, a parent folder named ``HGG`` or ``LGG`` (the BraTS 2018
layout), else ``unknown`` (:mod:`.case_classes`); the manifest records the source of each.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..io import VolumeReadError, percentile_rescale
from ..io.atomic import atomic_path, atomic_write_text
from ..io.case import IMAGE_KINDS, CaseFiles, find_cases, read_case_volume
from ..labels import brats_to_complete7
from ..train.data import FINGERPRINT_SAMPLE, DatasetError
from .case_classes import resolve_classes
from .store import (
    ARRAYS,
    DEFAULT_MIN_FRACTION,
    FORMAT,
    INDEX_FIELDS,
    MANIFEST,
    N_LABEL_CLASSES,
    VERSION,
    SliceStore,
    read_manifest,
)

NORMALIZATIONS = ("volume", "brain")


def file_fingerprint(path: Path) -> dict:
    """Size and SHA-256 of a file's first and last MiB (the whole file if it is small)."""
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        if size <= 2 * FINGERPRINT_SAMPLE:
            h.update(fh.read())
        else:
            h.update(fh.read(FINGERPRINT_SAMPLE))
            fh.seek(-FINGERPRINT_SAMPLE, os.SEEK_END)
            h.update(fh.read())
    return {"size": size, "sha256": h.hexdigest()}


def _sources(root: Path, found: CaseFiles, kinds) -> dict:
    out = {}
    for kind in kinds:
        path = found.files.get(kind)
        if path is not None:
            out[kind] = {"file": path.relative_to(root).as_posix(), **file_fingerprint(path)}
    return out


def _case_fingerprint(sources: dict, settings: dict) -> str:
    text = json.dumps({"sources": {k: [v["size"], v["sha256"]] for k, v in sources.items()}, "settings": settings},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# --- one case ---------------------------------------------------------------------------------
def _jsonable(value):
    """``value`` as plain JSON data (numpy scalars and small arrays as numbers and lists)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist()) if value.size <= 64 else f"array {value.dtype} {value.shape}"
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def case_labels7(found: CaseFiles, progress=None) -> tuple[np.ndarray, str, dict]:
    """(7-class map, where it came from, info) of a case."""
    if "labels7" in found.files:
        return read_case_volume(found, "labels7").data, "labels7 file", {}
    if "seg" in found.files and "tissues" in found.files:
        seg = read_case_volume(found, "seg").data
        tissues = read_case_volume(found, "tissues").data
        if tissues.shape != seg.shape:
            raise DatasetError(f"{found.case}: tissue map {tissues.shape} and seg {seg.shape} differ in shape")
        if tissues.max() > 3:
            raise DatasetError(f"{found.files['tissues'].name}: a tissue map holds 1 CSF, 2 GM, 3 WM; "
                               f"found {int(tissues.max())}")
        return brats_to_complete7(seg, tissues), "seg + tissues file", {}
    try:
        from ..case_tissues import labels7_for_case
    except ImportError as exc:
        raise DatasetError(f"{found.case}: no _labels7 or _tissues map, and the tissue step "
                           f"(napari_medsynth.tissues) cannot be loaded ({exc})") from exc
    labels7, _ref, info = labels7_for_case(found, progress=progress)
    return np.asarray(labels7), "computed (napari_medsynth.tissues)", _jsonable(dict(info or {}))


def _seg_from_labels7(labels7: np.ndarray) -> np.ndarray:
    return np.array([0, 1, 2, 4, 0, 0, 0], np.uint8)[labels7]


def _case_dir_name(case: str, taken: set[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", case).lstrip(".") or "case"
    base, n = name, 1
    while name.lower() in taken:
        n += 1
        name = f"{base}~{n}"
    taken.add(name.lower())
    return name


def _save(path: Path, arr: np.ndarray) -> int:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, np.ascontiguousarray(arr), allow_pickle=False)
    return path.stat().st_size


def build_case(found: CaseFiles, out: Path, folder: str, modalities: list[str], settings: dict,
               progress=None) -> tuple[dict, dict[str, np.ndarray]]:
    """Read, normalise and write one case; (record without offset/class, its index rows)."""
    try:
        vols = [read_case_volume(found, m) for m in modalities]
        labels7, l7_source, info = case_labels7(found, progress)
        seg = read_case_volume(found, "seg").data if "seg" in found.files else None
    except VolumeReadError as exc:
        raise DatasetError(str(exc)) from exc
    from ..io.skull import warn_if_not_skull_stripped

    warn_if_not_skull_stripped(vols[0].data, vols[0].spacing, f"{found.case} ({modalities[0]})",
                               "the slice store's brain fraction and the tissue map")
    shape = vols[0].data.shape
    for name, arr in [*((m, v.data) for m, v in zip(modalities, vols)), ("labels7", labels7), ("seg", seg)]:
        if arr is not None and arr.shape != shape:
            raise DatasetError(f"{found.case}: {name} has shape {arr.shape}, {modalities[0]} {shape}; a case's "
                               "images and label maps must share one voxel grid")
    if labels7.max() >= N_LABEL_CLASSES:
        raise DatasetError(f"{found.case}: the complete map holds class {int(labels7.max())}; classes are 0-6")
    labels7 = labels7.astype(np.uint8, copy=False)
    seg = _seg_from_labels7(labels7) if seg is None else seg.astype(np.uint8, copy=False)
    brain = np.zeros(shape, bool)
    for v in vols:
        brain |= v.data != 0
    h, w = shape[1:]
    brain_px = brain.sum(axis=(1, 2))
    label_px = (labels7 > 0).sum(axis=(1, 2))
    t = settings["min_fraction"]
    keep = np.flatnonzero((brain_px / (h * w) >= t) | (label_px / (h * w) >= t))
    images = np.empty((len(keep), len(modalities), h, w), np.float16)
    for j, v in enumerate(vols):
        mask = (v.data != 0) if settings["normalize"] == "brain" and np.any(v.data != 0) else None
        images[:, j] = percentile_rescale(v.data, mask=mask, out_range=(-1.0, 1.0))[keep]
    del vols
    lab = labels7[keep]
    bits = np.zeros(len(keep), np.uint8)
    for c in range(N_LABEL_CLASSES):
        bits |= (lab == c).any(axis=(1, 2)).astype(np.uint8) << np.uint8(c)
    case_dir = out / "cases" / folder
    files = {}
    for name, arr in (("images", images), ("labels7", lab), ("seg", seg[keep])):
        rel = f"cases/{folder}/{name}.npy"
        files[name] = {"path": rel, "bytes": _save(case_dir / f"{name}.npy", arr.astype(ARRAYS[name], copy=False))}
    record = {"id": found.case, "folder": "", "n_slices": int(len(keep)), "shape": [int(len(keep)), h, w],
              "volume_shape": [int(s) for s in shape], "labels7_source": l7_source, "labels7_info": info,
              "seg_source": "seg file" if "seg" in found.files else "from labels7", "files": files}
    rows = {"z": keep.astype(np.int32), "classes": bits, "brain_px": brain_px[keep].astype(np.int32),
            "label_px": label_px[keep].astype(np.int32)}
    return record, rows


# --- the store --------------------------------------------------------------------------------
def _choose_modalities(cases: list[CaseFiles], modalities) -> list[str]:
    if modalities is None:
        chosen = [m for m in IMAGE_KINDS if all(m in c.files for c in cases)]
        if not chosen:
            raise DatasetError("no MR sequence (t1, t1ce, t2, flair) is present in every case; choose the "
                               "modalities, or leave out the cases that lack them")
        return chosen
    if isinstance(modalities, str):
        modalities = [m.strip() for m in modalities.split(",") if m.strip()]
    bad = [m for m in modalities if m not in IMAGE_KINDS]
    if bad or not modalities or len(set(modalities)) != len(modalities):
        raise DatasetError(f"modalities must be distinct names from {', '.join(IMAGE_KINDS)}, not {modalities!r}")
    for c in cases:
        missing = [m for m in modalities if m not in c.files]
        if missing:
            raise DatasetError(f"case {c.case} ({c.folder}) has no {', '.join(missing)} image")
    return list(modalities)


def _prepare_out(out: Path, overwrite: bool, add: bool) -> dict | None:
    """Check the output folder; return the existing manifest when adding to it."""
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out} is a file; choose a folder for the slice store")
    if (out / MANIFEST).exists():
        if add:
            SliceStore.open(out)  # refuse to add to a damaged store
            return read_manifest(out)
        if not overwrite:
            n = "a slice store"
            try:
                n = f"a slice store of {len(read_manifest(out)['cases'])} case(s)"
            except DatasetError:
                pass
            raise DatasetError(f"{out} already holds {n}; rebuild it with overwrite (CLI --overwrite) or add "
                               "new cases with --add")
        read_manifest(out)  # only ever delete what is a store
    elif out.is_dir():
        foreign = [p.name for p in out.iterdir() if p.name != "cases" and not p.name.startswith(".")
                   and not re.fullmatch(r"index-[0-9a-f]+\.npz", p.name)]
        cases = out / "cases"
        if cases.exists() and not (cases.is_dir() and all(_is_debris(p) for p in cases.iterdir())):
            foreign.append("cases")
        if foreign:
            raise DatasetError(f"{out} is not empty and is not a slice store ({', '.join(sorted(foreign)[:3])}); "
                               "choose a new or empty folder")
    return None


def build_store(root, out, modalities=None, classes=None, progress=None, overwrite: bool = False,
                add: bool = False, min_fraction: float = DEFAULT_MIN_FRACTION, normalize: str = "volume") -> Path:
    """Build the slice store ``out`` from the case folders below ``root``; returns ``out``.

    ``modalities``: names or a comma-separated string (default: every one of t1, t1ce, t2, flair
    that all cases have). ``classes``: dict case -> class or a CSV path. ``progress(done, total,
    message)`` is called per case. An existing store is refused unless ``overwrite`` (rebuilt from
    scratch) or ``add`` (cases already stored with the same source files and settings are kept,
    changed ones rebuilt, new ones added; cases no longer in ``root`` stay).
    """
    root, out = Path(root), Path(out)
    if normalize not in NORMALIZATIONS:
        raise DatasetError(f"normalize must be one of {', '.join(NORMALIZATIONS)}, not {normalize!r}")
    if not 0 <= float(min_fraction) < 1:
        raise DatasetError(f"min_fraction must be in [0, 1), not {min_fraction}")
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist or is not a folder")
    if out.resolve() == root.resolve() or out.resolve() in root.resolve().parents:
        raise DatasetError(f"the store {out} would contain the dataset folder {root}; choose another folder")
    try:
        cases = find_cases(root)
    except VolumeReadError as exc:
        raise DatasetError(str(exc)) from exc
    if not cases:
        raise DatasetError(f"no BraTS case folders below {root} (expected <case>/<case>_t1ce.nii.gz or "
                           "<case>/<case>-t1c.nii.gz and friends)")
    seen: dict[str, Path] = {}
    for c in cases:
        if c.case in seen:
            raise DatasetError(f"case id {c.case} occurs twice: {seen[c.case]} and {c.folder}")
        seen[c.case] = c.folder
    chosen = _choose_modalities(cases, modalities)
    case_classes = resolve_classes(root, cases, classes)
    settings = {"modalities": chosen, "normalize": normalize, "min_fraction": float(min_fraction)}
    old = _prepare_out(out, overwrite, add)
    if old is not None and (old["modalities"] != chosen or old.get("settings", settings) != settings):
        raise DatasetError(f"{out} was built with {old.get('settings', {})}; adding needs the same settings, "
                           f"not {settings}")
    kept: dict[str, tuple[dict, dict]] = {}
    if old is not None:
        old_index = SliceStore.open(out).index
        for rec in old["cases"]:
            start, n = int(rec["offset"]), int(rec["n_slices"])
            kept[rec["id"]] = (rec, {k: v[start:start + n] for k, v in old_index.items() if k != "case"})
    fingerprints = {}
    for c in cases:
        sources = _sources(root, c, [*chosen, "seg", "labels7", "tissues"])
        fingerprints[c.case] = (sources, _case_fingerprint(sources, settings))
    todo = [c for c in cases if c.case not in kept or kept[c.case][0]["fingerprint"] != fingerprints[c.case][1]]
    if (overwrite and old is None) or any(c.case in kept for c in todo):
        (out / MANIFEST).unlink(missing_ok=True)  # from here on no manifest claims files being rewritten
    if overwrite and old is None:
        _remove_debris(out, "", set())
    out.mkdir(parents=True, exist_ok=True)
    taken = {r["files"]["images"]["path"].split("/")[1].lower() for r, _ in kept.values()}
    t0 = time.perf_counter()
    for i, c in enumerate(todo):
        if progress is not None:
            progress(i, len(todo), f"{c.case}: reading")

        def sub(done=0.0, total=1.0, message="", *_rest, _i=i, _case=c.case):
            if progress is not None:
                progress(_i + min(float(done) / max(float(total), 1e-9), 1.0), len(todo), f"{_case}: {message}")

        folder = kept[c.case][0]["files"]["images"]["path"].split("/")[1] if c.case in kept \
            else _case_dir_name(c.case, taken)
        record, rows = build_case(c, out, folder, chosen, settings, sub)
        record["folder"] = c.folder.relative_to(root).as_posix()
        kept[c.case] = (record, rows)
    if progress is not None:
        progress(len(todo), len(todo), f"{len(todo)} case(s) built, {len(cases) - len(todo)} kept")
    # Records in case-id order; offsets, classes and sources of this build.
    records, index_parts, offset = [], [], 0
    for n, case in enumerate(sorted(kept)):
        rec, rows = kept[case]
        if case in fingerprints:
            rec["sources"], rec["fingerprint"] = fingerprints[case]
            rec["class"], rec["class_source"] = case_classes[case]
        rec["offset"] = offset
        offset += int(rec["n_slices"])
        records.append(rec)
        index_parts.append({"case": np.full(len(rows["z"]), n, np.int32), **rows})
    index = {k: np.concatenate([p[k] for p in index_parts]).astype(t) for k, t in INDEX_FIELDS.items()}
    index_name = f"index-{secrets.token_hex(6)}.npz"
    with atomic_path(out / index_name, suffix=".npz") as tmp:
        np.savez(tmp, **index)
    manifest = {"format": FORMAT, "version": VERSION, "writer": f"napari-medsynth {__version__}",
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "source_root": str(root.resolve()),
                "modalities": chosen, "settings": settings, "dtype": "float16",
                "normalization": {"method": "percentile", "low": 0.5, "high": 99.5, "over": normalize,
                                  "range": [-1.0, 1.0]},
                "index": index_name, "n_slices": int(offset), "build_seconds": round(time.perf_counter() - t0, 2),
                "cases": records}
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    _remove_debris(out, index_name, {r["files"]["images"]["path"].split("/")[1] for r in records})
    return out


def _remove_debris(out: Path, index_name: str, folders: set[str]) -> None:
    """Old index files and case folders no manifest refers to (earlier builds, interrupted ones)."""
    for p in out.glob("index-*.npz"):
        if p.name != index_name:
            p.unlink(missing_ok=True)
    if (out / "cases").is_dir():
        for p in (out / "cases").iterdir():
            if p.name not in folders and _is_debris(p):
                shutil.rmtree(p, ignore_errors=True)


def _is_debris(folder: Path) -> bool:
    """A case folder of a store: nothing but .npy arrays and hidden temporary files."""
    return folder.is_dir() and all(f.is_file() and (f.suffix == ".npy" or f.name.startswith("."))
                                   for f in folder.iterdir())
