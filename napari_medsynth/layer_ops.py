"""Layer-level operations shared by widgets and scripts, expressed on plain layer data (no Qt)."""

from __future__ import annotations

import numpy as np
from nibabel.orientations import ornt2axcodes


def as_label_data(data: np.ndarray) -> np.ndarray:
    """Integer copy of an image for use as a label map; refuses non-integer or negative values."""
    arr = np.asarray(data)
    if arr.dtype.kind in "iu":
        if arr.size and arr.min() < 0:
            raise ValueError("This image has negative values; a label map must be 0 or positive.")
        return arr
    if arr.dtype.kind == "b":
        return arr.astype(np.uint8)
    if not np.all(np.isfinite(arr)) or not np.all(np.mod(arr, 1) == 0):
        raise ValueError(
            "This image holds non-integer values, so it cannot be a label map. "
            "Threshold or segment it first."
        )
    if arr.size and arr.min() < 0:
        raise ValueError("This image has negative values; a label map must be 0 or positive.")
    return arr.astype(np.int32)


def describe(info: dict | None, shape, scale) -> str:
    """Multi-line description of a layer's geometry for the MR volume panel."""
    if not info:
        return (
            f"Shape: {tuple(shape)}\nVoxel size (mm): {tuple(round(float(s), 3) for s in scale)}\n"
            "Not read from a NIfTI file: saving uses an affine built from the voxel size."
        )
    src = np.asarray(info["source_affine"])
    stored = "".join(ornt2axcodes(np.asarray(info["source_ornt"])))
    lines = [
        f"File: {info.get('path') or '—'}",
        f"Shape (display S,P,L): {tuple(shape)}",
        f"Voxel size (mm): {tuple(round(float(s), 3) for s in info['spacing'])}",
        f"Stored orientation: {stored} → shown as S,P,L (anterior up, patient's right on the left)",
        "Oblique: yes (shown in the voxel grid)" if _is_oblique(src) else "Oblique: no",
        f"Treated as: {info.get('kind', '?')}",
    ]
    if info.get("nonfinite_replaced"):
        lines.append(f"Warning: {info['nonfinite_replaced']} NaN/Inf voxels were replaced by 0")
    return "\n".join(lines)


def _is_oblique(affine: np.ndarray, tol: float = 1e-3) -> bool:
    rot = affine[:3, :3] / np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    return bool(np.any((np.abs(rot) > tol) & (np.abs(rot) < 1 - tol)))
