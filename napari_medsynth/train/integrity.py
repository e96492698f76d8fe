"""Integrity checks of a checkpoint file, done on the bytes :func:`~.checkpoint.read_state` read once.

1. **Archive checksums.** ``torch.save`` writes a zip archive whose members (the pickled structure
   and one member per tensor storage) each carry a CRC-32. ``torch.load`` does not verify them, so
   a byte flipped inside a weight (bad disk, bad copy) would load silently; every member is checked
   first. Legacy (pre-zip, PyTorch < 1.6) files carry no checksums and are refused, with how to
   re-save them.
2. **Model card.** When a model card (``NAME.json`` beside ``NAME.pt``) is present and records the
   file's SHA-256 (``checkpoint_sha256``), the file must still have it: weights edited, zeroed or
   replaced after training are refused with both hashes named. A user who changed a file on purpose
   overrides this with ``trust_changed=True`` (API) or ``--trust-changed`` (every CLI command that
   loads a checkpoint); :func:`trusting_changed` sets the same for everything loaded inside it. A
   file without a card is not checked this way (the card is optional), nor is a card that records
   no hash.
3. **Finite weights.** After loading, every floating-point tensor must be free of NaN and Inf; the
   first one that is not is named (a diverged training, or damage the checks above cannot see).
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import torch

#: The start of a legacy (non-zip) ``torch.save`` file: pickle protocol 2 and torch's magic number.
LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"
#: How to override a card mismatch, said in every message about one.
OVERRIDE = "pass --trust-changed (API: trust_changed=True)"

_TRUST_CHANGED: ContextVar[bool] = ContextVar("napari_medsynth_trust_changed", default=False)


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message says which file and why."""


class CheckpointDamagedError(CheckpointError):
    """The file's bytes fail a checksum, or it holds NaN/Inf weights; no override."""


class CheckpointChangedError(CheckpointError):
    """The file no longer has the SHA-256 its model card records (``trust_changed`` overrides)."""


@contextmanager
def trusting_changed(trust: bool = True) -> Iterator[None]:
    """Inside this block, checkpoints whose model card records another SHA-256 load anyway
    (what ``--trust-changed`` does for a whole CLI command). Damaged archives and non-finite
    weights are still refused."""
    token = _TRUST_CHANGED.set(bool(trust))
    try:
        yield
    finally:
        _TRUST_CHANGED.reset(token)


def trust_changed_now(explicit: bool | None) -> bool:
    """``explicit`` if given, else what the enclosing :func:`trusting_changed` says."""
    return _TRUST_CHANGED.get() if explicit is None else bool(explicit)


def legacy_message(data: bytes, name: str) -> str | None:
    """The message for a legacy (non-zip) torch file, or None if ``data`` is not one."""
    if not data.startswith(LEGACY_MAGIC):
        return None
    return (f"{name}: a legacy PyTorch file (saved before PyTorch 1.6, or with "
            "_use_new_zipfile_serialization=False). Such files carry no checksums, so napari-medsynth "
            "refuses them; if you trust it, re-save it with a current PyTorch: "
            "torch.save(torch.load(old, weights_only=True), new)")


def check_archive(data: bytes, name: str) -> None:
    """Refuse an archive whose members fail their CRC-32 (or cannot be read at all)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise CheckpointDamagedError(f"{name}: damaged: its archive cannot be read ({exc}); use another copy or "
                                     "an earlier checkpoint") from None
    if bad is not None:
        raise CheckpointDamagedError(f"{name}: damaged: the checksum (CRC-32) of {bad!r} inside the file does not "
                                     "match its contents, so some bytes changed after it was written (a disk or "
                                     "copy error); use another copy or an earlier checkpoint")


def check_card(path: Path, digest: str, card_path: Path, trust: bool) -> None:
    """Compare ``digest`` with the SHA-256 the model card beside ``path`` records (if any)."""
    if not card_path.is_file():
        return
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        if trust:
            return
        raise CheckpointChangedError(f"{path.name}: its model card {card_path.name} is not readable JSON ({exc}), "
                                     f"so the file cannot be checked against it; repair or remove the card, or "
                                     f"{OVERRIDE}") from None
    recorded = card.get("checkpoint_sha256") if isinstance(card, dict) else None
    if not isinstance(recorded, str) or recorded.lower() == digest:
        return
    message = (f"{path.name} has changed since its model card {card_path.name} was written: the card records "
               f"SHA-256 {recorded}, the file has SHA-256 {digest}. Its weights were edited, replaced or damaged "
               f"after training")
    if trust:
        warnings.warn(f"{message}; loading it anyway (trust_changed)", stacklevel=4)
        return
    raise CheckpointChangedError(f"{message}. Use the original file; if you changed it on purpose and trust it, "
                                 f"{OVERRIDE}")


def _tensors(obj: Any) -> Iterator[tuple[str, torch.Tensor]]:
    """(dotted key, tensor) for every tensor in nested dicts/lists/tuples, without recursion
    (a crafted file may nest deeper than Python's recursion limit)."""
    stack: list[tuple[str, Any]] = [("", obj)]
    while stack:
        key, value = stack.pop()
        if isinstance(value, torch.Tensor):
            yield key, value
        elif isinstance(value, dict):
            stack.extend((f"{key}.{k}" if key else str(k), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{key}.{i}" if key else str(i), v) for i, v in reversed(list(enumerate(value))))


def check_finite(state: Any, name: str) -> None:
    """Refuse the first floating-point tensor holding NaN or Inf, by name."""
    for key, t in _tensors(state):
        if t.device.type == "meta" or not (t.is_floating_point() or t.is_complex()) or t.numel() == 0:
            continue
        finite = torch.isfinite(t)
        if not bool(finite.all()):
            bad = int(finite.numel() - finite.sum())
            raise CheckpointDamagedError(f"{name}: refused: tensor {key} holds NaN or infinite values ({bad} of "
                                         f"{t.numel()}); the training diverged or the file was damaged; use an "
                                         "earlier checkpoint")
