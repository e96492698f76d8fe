"""Checkpoints that ship with napari-medsynth and serve as defaults (the repository's models/).

Each model ships as ``models/<name>.pt`` with its model card ``models/<name>.json`` beside it.
Installed from a wheel they live in the package as ``_bundled_models``.
"""

from __future__ import annotations

from pathlib import Path


def shipped_models_dir() -> Path | None:
    """Folder with the shipped checkpoints, or None when neither location exists."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_bundled_models", here.parent / "models"):
        if (candidate / "README.md").is_file():
            return candidate
    return None


def shipped_checkpoint(name: str) -> Path:
    """Path of the shipped checkpoint ``name`` (e.g. ``"spade"``); a clear error if it is missing."""
    folder = shipped_models_dir()
    if folder is None:
        raise FileNotFoundError("the shipped checkpoints folder was not found; reinstall napari-medsynth "
                                "or pass a checkpoint file explicitly")
    path = folder / f"{name}.pt"
    if not path.is_file():
        available = sorted(p.stem for p in folder.glob("*.pt"))
        raise FileNotFoundError(f"no shipped checkpoint named {name!r} in {folder} "
                                f"(available: {', '.join(available) or 'none'}); pass a checkpoint file explicitly")
    return path
