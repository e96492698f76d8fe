"""napari writer contribution: Image and Labels layers to NIfTI.

Layers read by this plugin are written with their original affine, header and storage
orientation (exact round trip); other layers get an affine built from their scale.
"""

from __future__ import annotations

from .io import write_volume


def write_image(path: str, data, meta: dict) -> list[str]:
    return [_write(path, data, meta, "image")]


def write_labels(path: str, data, meta: dict) -> list[str]:
    return [_write(path, data, meta, "labels")]


def _write(path: str, data, meta: dict, kind: str) -> str:
    info = (meta.get("metadata") or {}).get("medsynth")
    return write_volume(path, data, info, kind=kind, spacing=meta.get("scale"))
