"""Crash-safe file writes shared by every writer in the package.

A result file (a NIfTI volume, an answer key, a metrics table) is either the old complete
version or the new complete version, never half of one: data go to a temporary file in the
target folder, are fsync'ed, and the temporary file is renamed over the target (atomic on
POSIX and on Windows within one volume). The folder is fsync'ed too so the rename survives a
power cut.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Read once at import: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = _read_umask()


def fsync_dir(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (new or renamed files) to disk; a no-op where unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # not every platform can fsync a directory
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary sibling path to write to; on success it replaces ``path``.

    ``suffix`` ends the temporary name (some writers choose the format from the extension).
    On any error the temporary file is removed and the exception propagates unchanged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    # mkstemp creates the file private (0600); give it the permissions an ordinary open() would,
    # so a colleague (or a reader-study machine) can read what was written.
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], suffix: str = ".tmp") -> Path:
    """Create ``path`` atomically: ``write(tmp_path)`` fills a temporary sibling file."""
    with atomic_path(path, suffix=suffix) as tmp:
        write(str(tmp))
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write a text file atomically (newlines are written as given, never translated)."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding=encoding, newline="") as fh:
            fh.write(text)

    return atomic_write(path, write)


def write_npy_with_sidecar(folder: str | os.PathLike, stem: str, image, sidecar: dict) -> Path:
    """``<stem>.npy`` (float32) then ``<stem>.json``, each atomically: an image whose sidecar exists
    is complete. Returns the .npy path."""
    import io
    import json

    import numpy as np

    folder = Path(folder)
    buf = io.BytesIO()
    np.save(buf, np.asarray(image, dtype=np.float32), allow_pickle=False)
    path = atomic_write_bytes(folder / f"{stem}.npy", buf.getvalue())
    atomic_write_text(folder / f"{stem}.json", json.dumps(sidecar, indent=2) + "\n")
    return path
