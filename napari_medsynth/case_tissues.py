"""The 7-class complete map of a real BraTS case: tumor classes from its segmentation, WM/GM/CSF
from its T1 (else T1-Gd) together with its T2 and FLAIR by
:func:`napari_medsynth.tissues_multi.fit_tissues_multi` (one sequence alone separates the tissues badly
on many clinical scans: on 6 of the 14 BraTS 2018 cases used here the T1 alone gave under 2 % WM
or under 1 % GM), or from one named sequence by :func:`napari_medsynth.tissues.fit_tissues`.

With one T1 or T1-Gd and a T2 in the case, the CSF class is checked against the T2: CSF is bright on T2, so a voxel
the T1 calls CSF but whose T2 is below the median T2 of the grey matter is dark on both (signal
drop-out near the sinuses, the brain edge, a mis-stripped rim) and becomes grey matter. On the real
sample case TCGA-FG-6692 that removes a CSF blob over the orbitofrontal cortex.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from .io.case import CaseFiles, case_files, check_same_grid, read_case_volume
from .io.errors import VolumeReadError
from .io.nifti import Volume, write_volume
from .io.skull import warn_if_not_skull_stripped
from .jobs import Progress
from .labels import COMPLETE7, brats_to_complete7
from .tissues import TISSUE_ORDER, brain_region, fit_tissues
from .tissues_multi import fit_tissues_multi

#: Short names of the COMPLETE7 classes (BG, NCR/NET, ED, ET, WM, GM, CSF), by value.
CLASS_SHORT = {c.value: c.name.split()[0] for c in COMPLETE7}
#: Share of WM + GM + CSF each tissue has in a plausible map; outside it, a warning.
PLAUSIBLE_SHARE = (0.08, 0.7)
#: Sequences :func:`labels7_for_case` picks from when none is named, best first.
PREFERRED_MODALITIES = ("t1", "t1ce")
#: Sequences that join the T1 (or T1-Gd) in the multi-sequence fit when the case has them.
SUPPORTING_MODALITIES = ("t2", "flair")


def check_csf_with_t2(tissues: np.ndarray, t2: np.ndarray) -> int:
    """Relabel CSF (1) voxels whose T2 is below the grey matter's median T2 as GM (2), in place;
    returns how many changed. Does nothing when the map has no GM or CSF."""
    csf, gm = tissues == 1, tissues == 2
    if not csf.any() or not gm.any():
        return 0
    dark = csf & (t2 < float(np.median(t2[gm])))
    tissues[dark] = 2
    return int(dark.sum())


def _pick_modality(found: CaseFiles, modality: str | None) -> str:
    if modality is not None and modality not in TISSUE_ORDER:
        raise ValueError(f"modality must be one of {', '.join(TISSUE_ORDER)}, not {modality!r}")
    for kind in (modality,) if modality else PREFERRED_MODALITIES:
        if kind in found.files:
            return kind
    have = ", ".join(found.modalities) or "no MR sequence"
    wanted = f"no {modality} image" if modality else "no T1 or T1-Gd image to take the tissue classes from"
    hint = "" if modality else "; name the sequence to use (t2 or flair)"
    raise VolumeReadError(f"{found.folder.name}: {wanted} (the case has {have}){hint}.")


def labels7_for_case(folder_or_casefiles: str | os.PathLike | CaseFiles, modality: str | None = None,
                     progress: Progress | None = None, **tissue_options) -> tuple[np.ndarray, Volume, dict]:
    """The 7-class complete map of a BraTS case: tumor classes from ``_seg``, WM/GM/CSF from the T1
    (else T1-Gd) with the T2 and FLAIR the case has (:func:`fit_tissues_multi`; the T1 alone by
    :func:`fit_tissues` when the case has neither), or from ``modality`` alone when one is named,
    inside the brain outside the tumor. ``info["modality"]`` says which, e.g. ``"t1+t2+flair"``.

    Returns (labels7 uint8 in display orientation, the reference image :class:`Volume` to write it
    on, info: ``case``, ``modality``, ``means`` / ``stds`` / ``weights`` by tissue name,
    ``voxels`` and ``ml`` by short class name (:data:`CLASS_SHORT`), ``warnings`` (a tissue
    outside :data:`PLAUSIBLE_SHARE` of WM + GM + CSF), ``seconds``, and the fit's other keys).
    Raises :class:`VolumeReadError` (a ``ValueError``) for folders that are not a usable case.
    """
    start = time.perf_counter()
    found = folder_or_casefiles if isinstance(folder_or_casefiles, CaseFiles) else case_files(folder_or_casefiles)
    if "seg" not in found.files:
        have = ", ".join(found.files) or "no BraTS-named file"
        raise VolumeReadError(f"{found.folder.name}: no tumor segmentation (_seg) to take the tumor classes from "
                              f"(the case has {have}).")
    kind = _pick_modality(found, modality)
    report = progress or (lambda done, total, message="": None)
    report(0, 1, f"reading {found.case}")
    ref = read_case_volume(found, kind)
    seg = read_case_volume(found, "seg")
    check_same_grid(found.folder.name, [ref, seg])
    if ref.data.ndim != 3:
        raise VolumeReadError(f"{Path(ref.path).name}: expected a 3-D volume, got shape {ref.data.shape}.")
    stripped = warn_if_not_skull_stripped(ref.data, ref.spacing, Path(ref.path).name, "the tissue map's brain mask")

    def sub(done, total, message=""):
        report(0.05 + 0.9 * done / max(total, 1e-12), 1, message)

    support = [] if modality else [m for m in SUPPORTING_MODALITIES if m in found.files]
    others = {m: read_case_volume(found, m) for m in support}
    others = {m: v for m, v in others.items() if v.data.shape == ref.data.shape}
    if others:
        images = {kind: ref.data, **{m: v.data for m, v in others.items()}}
        brain = brain_region(ref.data)
        for v in others.values():
            brain |= brain_region(v.data)
        tissues, fit = fit_tissues_multi(images, brain, seg.data > 0, spacing=ref.spacing, progress=sub,
                                         **tissue_options)
        kind = fit["modality"]
    else:
        tissues, fit = fit_tissues(ref.data, brain_region(ref.data), seg.data > 0, kind, spacing=ref.spacing,
                                   progress=sub, **tissue_options)
    fit["csf_checked_with_t2"] = None
    if not others and kind in ("t1", "t1ce") and "t2" in found.files:
        t2 = read_case_volume(found, "t2")
        if t2.data.shape == ref.data.shape:
            fit["csf_checked_with_t2"] = check_csf_with_t2(tissues, t2.data)
    labels7 = brats_to_complete7(seg.data, tissues)
    counts = np.bincount(labels7.ravel(), minlength=len(COMPLETE7))
    voxel_ml = float(np.prod(ref.spacing)) / 1000.0
    info = {"case": found.case, **fit, "voxels": {short: int(counts[v]) for v, short in CLASS_SHORT.items()},
            "ml": {short: float(counts[v]) * voxel_ml for v, short in CLASS_SHORT.items()}}
    share = {k: info["voxels"][k] / max(sum(counts[4:]), 1) for k in ("WM", "GM", "CSF")}
    odd = [f"{k} {100 * v:.0f} %" for k, v in share.items() if not PLAUSIBLE_SHARE[0] <= v <= PLAUSIBLE_SHARE[1]]
    info["warnings"] = [f"implausible tissue volumes ({', '.join(odd)} of WM + GM + CSF): the {kind} contrast "
                        "may not separate the tissues in this case; check the map"] if odd else []
    if stripped:
        info["warnings"].insert(0, stripped)
    info["seconds"] = time.perf_counter() - start
    report(1, 1, "labels7 done")
    return labels7, ref, info


def write_labels7(labels7: np.ndarray, ref_volume: Volume, out_path: str | os.PathLike) -> str:
    """Write a 7-class map on ``ref_volume``'s grid and affine (atomically); returns the path."""
    labels7 = np.asarray(labels7)
    if labels7.shape != ref_volume.data.shape[-3:]:
        raise ValueError(f"labels7 {labels7.shape} is not on the reference grid {ref_volume.data.shape}")
    meta = {**ref_volume.metadata(), "label_convention": "", "kind": "labels"}
    return write_volume(out_path, labels7.astype(np.uint8, copy=False), meta, kind="labels")
