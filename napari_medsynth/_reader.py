"""napari reader contribution: NIfTI files, BraTS case folders and folders of case folders.

Thin adapter: all reading, validation and orientation logic lives in :mod:`napari_medsynth.io`.
Errors are raised as :class:`~napari_medsynth.io.VolumeReadError` with a message for the user;
napari shows it and keeps running.

napari's own reader also claims ``*.nii``, ``*.nii.gz`` and folders, so File > Open asks the user
to choose a reader unless a preference names one; :data:`SESSION_READERS` is that preference,
which ``napari-medsynth`` sets for its own session (:func:`session_reader_env`). When napari
picked this reader itself, a reading error would make it offer its other readers in the
"Choose reader" dialog with a generic text; the reader then shows its own message as an error
notification instead and opens nothing (:func:`read_path`).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from . import labels as vocab
from .io import Volume, VolumeReadError, is_nifti_path, read_case, read_volume
from .io.case import cases_in, read_segmentation, suffix_of

PLUGIN = "napari-medsynth"
#: A folder with more case folders than this is refused (open one case, or a smaller folder).
MAX_CASES = 12
#: napari reader preferences (``settings.plugins.extension2reader``) that send NIfTI files and
#: folders to this plugin: napari matches ``*/`` against every folder.
SESSION_READERS = {pattern: PLUGIN for pattern in ("*.nii", "*.nii.gz", "*.NII", "*.NII.GZ", "*" + os.sep)}
_ENV = "NAPARI_PLUGINS_EXTENSION2READER"
#: Folders below this depth, or past this many entries, are not searched for NIfTI files when
#: napari asks whether a folder is ours.
_PROBE_DEPTH, _PROBE_ENTRIES = 3, 5000


def session_reader_env(environ=None) -> dict:
    """Put :data:`SESSION_READERS` into ``environ`` (default ``os.environ``) for napari to read.

    napari reads settings from ``NAPARI_*`` variables and never saves those to its settings file, so
    the preference holds for this process only; entries already in the variable are kept.
    """
    environ = os.environ if environ is None else environ
    try:
        current = json.loads(environ.get(_ENV) or "{}")
    except ValueError:
        current = {}
    merged = {**SESSION_READERS, **(current if isinstance(current, dict) else {})}
    environ[_ENV] = json.dumps(merged)
    return merged


def napari_get_reader(path):
    """Our reader for .nii/.nii.gz files and for folders that are empty or hold NIfTI files (as
    case folders, or case folders below them); None for anything else, which other readers open."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(os.fspath(path))
    if is_nifti_path(p) or (p.is_dir() and _folder_is_ours(p)):
        return read_path
    return None


def _folder_is_ours(folder: Path) -> bool:
    """Empty (ignoring hidden files), or NIfTI files within a few levels (a bounded look, not a walk)."""
    seen = 0
    level = [folder]
    empty = True
    for _ in range(_PROBE_DEPTH):
        below = []
        for here in level:
            try:
                entries = [e for e in os.scandir(here) if not e.name.startswith(".")]
            except OSError:
                continue
            for entry in entries:
                seen += 1
                empty = False
                if entry.is_dir():
                    below.append(entry.path)
                elif is_nifti_path(entry.name):
                    return True
            if seen > _PROBE_ENTRIES:
                return False
        level = below
    return empty and folder.suffix.lower() != ".zarr"


def read_path(path) -> list[tuple]:
    """Read a file, a case folder or a folder of case folders into napari layer data tuples."""
    if isinstance(path, list):
        path = path[0]
    p = Path(os.fspath(path))
    try:
        if p.is_dir():
            return read_folder(p)
        vol = read_segmentation(p) if suffix_of(p) == "seg" else read_volume(p)
        return [volume_to_layer_data(vol)]
    except VolumeReadError as exc:
        if not _napari_chose_this_reader():
            raise
        _notify("error", str(exc))
        return [(None,)]  # napari's "read, nothing to add": no "Choose reader" dialog over our message


def _napari_chose_this_reader() -> bool:
    """Whether napari picked this reader itself (File > Open, drag and drop): it would turn an error
    into its "Choose reader" dialog. Called with an explicit plugin (``viewer.open(path, plugin=...)``,
    a script, the dialog's choice), errors are raised as usual."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_open_or_raise_error" and "napari" in code.co_filename:
            return True
        frame = frame.f_back
    return False


def _notify(level: str, message: str) -> None:
    from napari.utils import notifications

    getattr(notifications, f"show_{level}")(message)


def read_folder(folder: Path) -> list[tuple]:
    """A case folder's volumes, or those of every case folder below ``folder`` (the first case shown,
    the others hidden in the layer list); at most :data:`MAX_CASES` cases."""
    cases = cases_in(folder)
    if len(cases) == 1 and cases[0].folder == folder:
        return _case_layers(folder)
    n = len(cases)
    names = ", ".join(c.folder.name for c in cases[:5]) + (", ..." if n > 5 else "")
    if n > MAX_CASES:
        raise VolumeReadError(f"{folder.name}: holds {n} case folders ({names}), more than the {MAX_CASES} opened "
                              "at once; open one case folder, or a folder with fewer cases.")
    layers: list[tuple] = []
    opened: list[str] = []
    failed: list[str] = []
    for case in cases:
        try:
            found = _case_layers(case.folder, prefix=case.case)
        except VolumeReadError as exc:
            failed.append(str(exc))
            continue
        if layers:  # one case on screen; the others one click away in the layer list
            for _, meta, _ in found:
                meta["visible"] = False
        layers += found
        opened.append(case.folder.name)
    if not layers:
        raise VolumeReadError(f"{folder.name}: none of its {n} case folders could be read: {'; '.join(failed)}")
    which = "all of them" if not failed else f"{len(opened)} of them"
    _notify("info", f"{folder.name}: holds {n} case folder{'s' if n > 1 else ''} ({names}); opened {which}, "
                    f"showing {opened[0]} (tick the others in the layer list).")
    if failed:
        warnings.warn(f"{folder.name}: {len(failed)} of {n} case folders not opened: {'; '.join(failed)}",
                      stacklevel=2)
    return layers


def _case_layers(folder: Path, prefix: str = "") -> list[tuple]:
    layers = [volume_to_layer_data(v) for v in read_case(folder)]
    _show_one_image(layers)
    for _, meta, _ in layers:  # layer names say which case they belong to (case members are 3-D: one name)
        if prefix and not meta["name"].startswith(prefix):
            meta["name"] = f"{prefix} {meta['name']}"
    return layers


def _show_one_image(layers: list[tuple]) -> None:
    """In a case, show only the post-contrast (else the first) image; the others stay one click away."""
    images = [meta for _, meta, kind in layers if kind == "image"]
    preferred = [m for m in images if suffix_of(m["name"] + ".nii") == "t1ce"] or images[:1]
    for meta in images:
        meta["visible"] = meta is preferred[0] if preferred else True


def label_vocabulary(name: str, data: np.ndarray, convention: str = ""):
    """Pick the label vocabulary that fits a label map: 7-class complete, BraTS, or none."""
    suffix = suffix_of(name + ".nii")
    if suffix == "labels7":
        return vocab.COMPLETE7
    if convention == "brats2023":
        return vocab.BRATS2023
    if suffix == "seg" or convention:
        return vocab.BRATS
    values = set(np.unique(data).tolist())
    if values <= {0, 1, 2, 4} and 4 in values:
        return vocab.BRATS
    return None


def labels_style(classes) -> dict:
    """Labels-layer keywords for a vocabulary: fixed colours (background transparent, values
    outside the vocabulary magenta) and a ``class`` feature, so napari shows class names."""
    colormap = {c.value: (c.color if c.value else "transparent") for c in classes}
    colormap[None] = "magenta"  # values outside the vocabulary stand out
    return {"colormap": colormap,
            "features": {"index": [c.value for c in classes], "class": [c.name for c in classes]}}


def volume_to_layer_data(vol: Volume) -> tuple:
    """A :class:`Volume` as a napari layer data tuple (display orientation, voxel size as scale)."""
    meta = {
        "name": vol.name,
        "scale": vol.spacing,
        "metadata": {"medsynth": vol.metadata()},
    }
    if vol.kind == "labels":
        classes = label_vocabulary(vol.name, vol.data, vol.label_convention)
        if classes is not None:
            meta.update(labels_style(classes))
        meta["opacity"] = 0.5
        return vol.data, meta, "labels"
    meta["colormap"] = "gray"
    meta["contrast_limits"] = _display_range(vol.data)
    if vol.is_multichannel:
        meta["channel_axis"] = 0
        meta["name"] = vol.channel_names
        meta["scale"] = vol.spacing
        meta["contrast_limits"] = [_display_range(c) for c in vol.data]
        meta["blending"] = "additive"
    return vol.data, meta, "image"


def _display_range(data: np.ndarray) -> list[float]:
    """0.5-99.5 percentile of the non-zero voxels: robust to the zero background of skull-stripped MR."""
    sample = data[:: max(1, data.shape[0] // 32)]
    nz = sample[sample != 0]
    ref = nz if nz.size else sample
    lo, hi = (float(x) for x in np.percentile(ref, [0.5, 99.5])) if ref.size else (0.0, 1.0)
    lo = min(lo, 0.0) if lo >= 0 else lo
    return [lo, hi if hi > lo else lo + 1.0]
