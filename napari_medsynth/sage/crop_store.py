"""Storage pieces of the tumor-crop dataset (:mod:`napari_medsynth.sage.dataset`): patient ids as
folder names, the checked memory maps and atomic writes of one patient's arrays, and
:class:`PatientStack`, which reads the per-patient arrays as one array.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from ..io.atomic import atomic_write, atomic_write_text, fsync_dir

_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
#: What a folder name in a manifest may look like (patient_folder's output, ``~k`` suffixes).
FOLDER_RE = re.compile(r"[A-Za-z0-9_%-][A-Za-z0-9._%~-]{0,250}")
FIX = "restore it from a backup or recreate the dataset"


class CropDatasetError(ValueError):
    """The folder is not a usable crop dataset; the message says why."""


def check_patient_id(patient: str) -> None:
    """Refuse ids that could reach outside the dataset folder."""
    if not isinstance(patient, str) or not patient.strip() or patient in (".", "..") or "/" in patient \
            or "\\" in patient or not patient.isprintable():
        raise CropDatasetError(f"patient id {patient!r} cannot be stored: use non-empty text without '/', '\\' or "
                               "control characters, other than '.' and '..'")


def patient_folder(patient: str) -> str:
    """Folder name for ``patient``: unsafe characters (and a leading or trailing dot) percent-encoded."""
    name = "".join(c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in patient)[:100] or "%"
    name = "%2E" + name[1:] if name.startswith(".") else name
    return name[:-1] + "%2E" if name.endswith(".") else name


def map_array(path: Path, patient: str, shape: tuple, dtype) -> np.ndarray:
    """``path`` memory-mapped read-only, checked against the shape and type the manifest implies."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise CropDatasetError(f"patient {patient!r}: {path} is missing or damaged ({exc}); {FIX}") from exc
    if arr.shape != shape or arr.dtype != dtype:
        raise CropDatasetError(f"patient {patient!r}: {path} holds {arr.dtype} {arr.shape}, but manifest.json lists "
                               f"{np.dtype(dtype)} {shape}; {FIX}")
    return arr


def _save_npy(arr: np.ndarray, path: str) -> None:
    with open(path, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)


def write_npy(path: Path, arr: np.ndarray) -> None:
    """Write ``arr`` as ``path`` (.npy) atomically, streamed from ``arr`` (no copy in memory)."""
    atomic_write(path, partial(_save_npy, np.ascontiguousarray(arr)))


def write_patient(patients_dir: Path, patient: str, used: set[str], arrays: dict[str, np.ndarray],
                  records: dict) -> str:
    """Write one patient's arrays (``<name>.npy``) and ``records.json``, each atomically, into a new folder
    under ``patients_dir``: :func:`patient_folder`, with ``~k`` appended while the name is in ``used``
    (casefolded) or exists. Returns the folder name."""
    base = patient_folder(patient)
    folder = next(name for name in (f"{base}~{k}" if k else base for k in itertools.count())
                  if name.casefold() not in used and not os.path.lexists(patients_dir / name))
    (patients_dir / folder).mkdir(parents=True)
    for name, arr in arrays.items():
        write_npy(patients_dir / folder / f"{name}.npy", arr)
    atomic_write_text(patients_dir / folder / "records.json", json.dumps(records) + "\n")
    fsync_dir(patients_dir)
    return folder


def remove_unlisted(root: Path, keep: set[str], old_files: Sequence[str]) -> None:
    """Delete the folders under ``root/patients`` that ``keep`` does not name, and ``old_files`` in ``root``."""
    for entry in (root / "patients").iterdir() if (root / "patients").is_dir() else ():
        if entry.is_dir() and not entry.is_symlink() and entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)
    for name in old_files:
        try:
            (root / name).unlink(missing_ok=True)
        except OSError:  # still mapped (Windows): a later save removes it
            pass


class PatientStack(NDArrayOperatorsMixin):
    """Per-patient arrays read as one (N, H, W) array without stacking them.

    Indexing along the first axis (an int, negative too, a slice, an integer or boolean index array,
    then any further indices) returns a numpy array (a copy); anything else (``np.asarray(stack)``,
    ``stack == 0``, ``.sum()``, pixel masks) stacks all parts first. ``stack[i] = x`` and
    ``stack[i] *= 0.5`` go to the writable array ``write(k)`` returns for part ``k``.
    """

    def __init__(self, parts: Sequence[Callable[[], np.ndarray]], lengths: Sequence[int], row_shape: tuple,
                 dtype, write: Callable[[int], np.ndarray] | None = None):
        self._parts, self._write, self.dtype, self._row = list(parts), write, np.dtype(dtype), tuple(row_shape)
        self._starts = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)

    shape = property(lambda self: (len(self), *self._row))
    ndim = property(lambda self: 1 + len(self._row))

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __repr__(self) -> str:
        return f"PatientStack(shape={self.shape}, dtype={self.dtype}, parts={len(self._parts)})"

    def __getattr__(self, name: str):  # ndarray methods (min, sum, astype, reshape, ...) of the stacked array
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(np.asarray(self), name)

    def _rows(self, key) -> np.ndarray | None:
        """Positions ``key`` picks along axis 0 (numpy's rules), None where it indexes several axes at once."""
        if key is Ellipsis or key is None or (isinstance(key, np.ndarray) and key.dtype == bool and key.ndim > 1):
            return None
        return np.asarray(np.arange(len(self))[key])

    def _part(self, flat: np.ndarray) -> np.ndarray:
        return np.searchsorted(self._starts, flat, side="right") - 1

    def _take(self, rows: np.ndarray) -> np.ndarray:
        flat = rows.ravel()
        part, out = self._part(flat), np.empty((flat.size, *self._row), self.dtype)
        for k in np.unique(part):
            out[part == k] = self._parts[k]()[flat[part == k] - self._starts[k]]
        return out.reshape(rows.shape + self._row)

    def __getitem__(self, key):
        head, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
        rows = self._rows(head)
        if rows is None:
            return np.asarray(self)[key]
        return self._take(rows)[(slice(None),) * rows.ndim + rest]

    def __setitem__(self, key, value) -> None:
        head, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
        rows = self._rows(head) if self._write is not None else None
        if rows is None:
            raise TypeError("this PatientStack is read-only" if self._write is None else
                            "assign to rows: an int, a slice or an index array first")
        new = self._take(rows)
        new[(slice(None),) * rows.ndim + rest] = value
        flat, new = rows.ravel(), new.reshape(-1, *self._row)
        part = self._part(flat)
        for k in np.unique(part):
            self._write(int(k))[flat[part == k] - self._starts[k]] = new[part == k]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError("a PatientStack cannot become one array without a copy")
        arrays = [part() for part, n in zip(self._parts, np.diff(self._starts)) if n]
        return np.asarray(np.concatenate(arrays) if arrays else np.zeros(self.shape, self.dtype), dtype=dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if any(isinstance(o, PatientStack) for o in kwargs.get("out", ())):
            return NotImplemented
        inputs = tuple(np.asarray(x) if isinstance(x, PatientStack) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)
