"""Checkpoints: plain state dicts written atomically, with a JSON model card beside each.

Safety: files are read with ``torch.load(weights_only=True)``, which only rebuilds tensors and
plain containers. A file holding any other pickled object (a function, a class instance: things
that can run code while unpickling) is refused with :class:`CheckpointError` instead of loaded.

Integrity (:mod:`.integrity`): the archive's CRC-32 checksums, the SHA-256 the model card beside
the file records (overridable with ``trust_changed``), and finite weights are checked on the bytes
read once; legacy non-zip torch files (no checksums) are refused.

Durability: a checkpoint is serialised in memory, written to a temporary file in the same folder,
flushed and fsync'ed, then renamed over the final name. A run killed at any moment (SIGKILL, power
loss) leaves either the previous complete checkpoint or the new complete one, never half a file.

Layout: ``OUT/checkpoints/step_00001000.pt`` and ``step_00001000.json`` (the model card).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..io.atomic import atomic_write_bytes
from .integrity import (  # noqa: F401 (CheckpointError and its kinds are defined there, used from here)
    CheckpointChangedError,
    CheckpointDamagedError,
    CheckpointError,
    check_archive,
    check_card,
    check_finite,
    legacy_message,
    trust_changed_now,
    trusting_changed,
)

FORMAT = "napari-medsynth-checkpoint"
FORMAT_VERSION = 1
_NAME = re.compile(r"^step_(\d{8,})\.pt$")


def checkpoint_dir(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / "checkpoints"


def checkpoint_path(out_dir: str | os.PathLike, step: int) -> Path:
    return checkpoint_dir(out_dir) / f"step_{step:08d}.pt"


def card_path_for(path: str | os.PathLike) -> Path:
    return Path(path).with_suffix(".json")


def list_checkpoints(out_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints in ``OUT/checkpoints`` as (step, path), oldest first.

    Temporary files of interrupted writes are dot-files and never match.
    """
    folder = checkpoint_dir(out_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    found = list_checkpoints(out_dir)
    return found[-1][1] if found else None


def remove_stale_temp_files(out_dir: str | os.PathLike) -> int:
    """Delete temporary files left by a run that was killed while writing; returns how many."""
    folder = checkpoint_dir(out_dir)
    stale = list(folder.glob(".step_*.tmp")) if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def model_card(payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The JSON description of a checkpoint: what was trained, on what, how far, with what."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "recipe": payload["recipe"],
        "step": payload["step"],
        "config": payload["config"],
        "metrics": payload.get("metrics", {}),
        "seed": payload.get("seed"),
        "world_size": payload.get("world_size", 1),
        "package_version": __version__,
        "torch_version": torch.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any], card: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``payload`` (state dicts, numbers, strings) and its model ``card`` atomically.

    The card records the checkpoint's SHA-256 so a copied file can be checked against it.
    """
    path = Path(path)
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, buf)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    card = {**card, "checkpoint": path.name, "checkpoint_sha256": hashlib.sha256(data).hexdigest()}
    card_path = card_path_for(path)
    atomic_write_bytes(card_path, (json.dumps(card, indent=2, default=str) + "\n").encode())
    return path, card_path


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist (both a :class:`CheckpointError` and a FileNotFoundError)."""


#: What to choose instead, said after a file that is not a PyTorch archive.
_NAPARI_HINT = "choose a .pt file written by napari-medsynth"


def read_state(path: str | os.PathLike, map_location: str | torch.device = "cpu", what: str = "checkpoint",
               hint: str = _NAPARI_HINT, trust_changed: bool | None = None) -> tuple[Any, str]:
    """(the object in a PyTorch file, the file's SHA-256), reading the file once, tensors only.

    Anything but tensors and plain containers (a pickled function or class instance: things that
    can run code while unpickling) is refused with :class:`CheckpointError`; so are missing,
    empty, truncated, foreign and legacy files, archives failing their checksums, a file that
    differs from the SHA-256 its model card records (unless ``trust_changed``; None: as the
    enclosing :func:`trusting_changed` says) and NaN/Inf weights, each with a message that says which.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(f"{what} {path} not found")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if not zipfile.is_zipfile(io.BytesIO(data)):
        # torch.save writes a zip archive; anything else (an empty or truncated download, another
        # kind of file) would only reach torch's legacy unpickler and fail with a confusing message.
        raise CheckpointError(legacy_message(data, path.name) or
                              f"{path.name}: not a PyTorch checkpoint (the file is empty, truncated or of "
                              f"another kind); {hint}")
    check_archive(data, path.name)
    check_card(path, digest, card_path_for(path), trust_changed_now(trust_changed))
    try:
        state = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if not found and "global" not in str(exc).lower():
            raise CheckpointError(f"{path.name}: not a readable PyTorch checkpoint; its pickled structure is "
                                  "malformed (the file is damaged or was not written by torch.save)") from exc
        kind = f" ({found.group(1)})" if found else ""
        raise CheckpointError(
            f"{path.name}: refused to load: the file contains a pickled Python object{kind}, not just "
            "tensors and numbers. Unpickling such objects can run arbitrary code, so only plain "
            "state dicts (weights only) are accepted. Use checkpoints written by napari-medsynth, or "
            "re-save a trusted file as a state dict."
        ) from exc
    except MemoryError:
        raise
    except Exception as exc:  # weights_only runs no code: whatever fails is malformed data
        first = (str(exc).splitlines() or [type(exc).__name__])[0] or type(exc).__name__
        raise CheckpointError(f"{path.name}: not a readable PyTorch checkpoint; the file is truncated "
                              f"or corrupt ({first})") from exc
    check_finite(state, path.name)
    return state, digest


def check_format(state: Any, name: str) -> dict[str, Any]:
    """``state`` if it is a napari-medsynth checkpoint this version can read; else a CheckpointError."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{name}: a PyTorch file, but not a napari-medsynth training checkpoint")
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{name}: written by a newer napari-medsynth (checkpoint format "
                              f"{state['format_version']}, this version reads up to {FORMAT_VERSION}); upgrade")
    return state


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    trust_changed: bool | None = None) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, refusing anything but plain data
    (and damaged or changed files: see :func:`read_state`)."""
    state, _ = read_state(path, map_location, trust_changed=trust_changed)
    return check_format(state, Path(path).name)


def read_model_card(path: str | os.PathLike) -> dict[str, Any]:
    """The model card of checkpoint ``path`` (or the card file itself)."""
    card = card_path_for(path)
    try:
        return json.loads(card.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"no model card {card.name} beside the checkpoint") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{card.name}: the model card is not valid JSON ({exc})") from exc


def prune_checkpoints(out_dir: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest checkpoints (and their cards); ``keep <= 0`` keeps all."""
    found = list_checkpoints(out_dir)
    if keep <= 0 or len(found) <= keep:
        return []
    removed = []
    for _, p in found[:-keep]:
        p.unlink(missing_ok=True)
        card_path_for(p).unlink(missing_ok=True)
        removed.append(p)
    return removed

