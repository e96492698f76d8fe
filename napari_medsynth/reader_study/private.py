"""The organizer's private files: the answer key and the study secret, readable by the owner only.

Both are created with mode 0600 from the first byte (a temporary file from :func:`tempfile.mkstemp`
is private), written in full and fsync'ed, then linked into place under their final name, which
fails if a file of that name appeared in the meantime: another study's key is never overwritten and
nobody ever sees a half-written or world-readable key.

The **secret** (32 random bytes) is what the stimulus names, their shuffle and the readers' order
key are derived from (HMAC-SHA-256). It is drawn fresh for every study and written only beside
the key (``<key>.secret``), so nothing in the study folder readers get depends on ``--seed``:
replaying the creation with guessed seeds cannot recover the names. Seed and secret together
reproduce a study exactly (``create_study(..., seed=S, secret=...)``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from pathlib import Path

from ..io import fsync_dir
from .study import StudyError

SECRET_BYTES = 32
SECRET_FORMAT = "napari-medsynth reader study secret"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Read once at import (os.umask can only be read by setting it, which is not thread-safe).
UMASK = _read_umask()
#: Modes of what readers open: what an ordinary mkdir / open would give.
PUBLIC_DIR_MODE = 0o777 & ~UMASK
PUBLIC_FILE_MODE = 0o666 & ~UMASK
PRIVATE_MODE = 0o600


def secret_path(key_path: str | os.PathLike) -> Path:
    """Where the secret of the study whose key is ``key_path`` lives: ``<key>.secret``."""
    key_path = Path(key_path)
    return key_path.with_name(f"{key_path.stem}.secret")


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def as_secret(value: bytes | str | None) -> bytes:
    """A secret from bytes or its hex text (as written in ``<key>.secret``); None draws a new one."""
    if value is None:
        return new_secret()
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value.strip())
        except ValueError as exc:
            raise StudyError("the study secret must be the hex text from the .secret file.") from exc
    if len(value) < 16:
        raise StudyError(f"the study secret is too short ({len(value)} bytes; 16 or more are needed).")
    return bytes(value)


def derive(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose (``"stimuli"``, ``"order"``), one-way from the secret."""
    return hmac.new(secret, f"napari-medsynth reader study:{purpose}".encode(), hashlib.sha256).digest()


def secret_text(secret: bytes, study_name: str) -> str:
    return json.dumps({"format": SECRET_FORMAT, "version": 1, "study": study_name, "secret": secret.hex(),
                       "note": "keep private, like the answer key: it decides the stimulus names"}, indent=1) + "\n"


def read_secret(path: str | os.PathLike) -> bytes:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != SECRET_FORMAT:
            raise ValueError("not a study secret file")
        return as_secret(data["secret"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StudyError(f"{path}: not a reader study secret file ({exc}).") from exc


def write_private_text(path: str | os.PathLike, text: str) -> Path:
    """Create ``path`` with mode 0600, atomically; refuses to replace an existing file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # 0600 from the start
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, PRIVATE_MODE)  # mkstemp's mode already; said explicitly
        try:
            os.link(tmp, path)  # atomic, and never over an existing file
        except FileExistsError:
            raise StudyError(f"{path} already exists; refusing to overwrite another study's private file.") from None
        except OSError:  # file systems without hard links (FAT, some network shares)
            if path.exists():
                raise StudyError(f"{path} already exists; refusing to overwrite another study's private file.") \
                    from None
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    fsync_dir(path.parent)
    return path
