"""Shared fixtures: small NIfTI phantoms made inside the tests, with known anatomy directions."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest


def ras_phantom(shape=(20, 24, 16), seed=0) -> np.ndarray:
    """A float32 volume indexed [x (R), y (A), z (S)] with three landmarks:

    * a bright cube near the patient's right (high x), anterior (high y), superior (high z);
    * a dim cube near left-posterior-inferior;
    * smooth random background so every voxel differs (orientation errors cannot hide).
    """
    rng = np.random.default_rng(seed)
    vol = rng.uniform(10, 20, size=shape).astype(np.float32)
    x, y, z = shape
    vol[x - 5:x - 2, y - 5:y - 2, z - 5:z - 2] = 1000.0
    vol[2:5, 2:5, 2:5] = 500.0
    return vol


def save_nifti(path, data, affine, dtype=None) -> str:
    img = nib.Nifti1Image(np.asarray(data), affine)
    if dtype is not None:
        img.set_data_dtype(dtype)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    nib.save(img, str(path))
    return str(path)


def stored_as(ras_data: np.ndarray, zooms, axcodes) -> tuple[np.ndarray, np.ndarray]:
    """Re-store a RAS-indexed array in another orientation; return (array, affine) such that
    both describe the same object in scanner space."""
    from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, ornt_transform

    ras_aff = np.diag(list(zooms) + [1.0])
    ras_aff[:3, 3] = -np.array(ras_data.shape) * np.array(zooms) / 2
    t = ornt_transform(axcodes2ornt(("R", "A", "S")), axcodes2ornt(axcodes))
    data = apply_orientation(ras_data, t)
    affine = ras_aff @ inv_ornt_aff(t, ras_data.shape)
    return data, affine


@pytest.fixture
def phantom():
    return ras_phantom()


@pytest.fixture
def brats_case(tmp_path):
    """A small BraTS case folder: t1, t1ce, flair and a seg with labels 1, 2, 4 (stored LPS)."""
    ras = ras_phantom((24, 28, 12))
    seg_ras = np.zeros(ras.shape, dtype=np.uint8)
    seg_ras[8:16, 10:18, 4:8] = 2
    seg_ras[10:14, 12:16, 5:7] = 4
    seg_ras[11:13, 13:15, 5:7] = 1
    folder = tmp_path / "BraTS_0001"
    folder.mkdir()
    for mod, scale in (("t1", 1.0), ("t1ce", 1.3), ("flair", 0.7)):
        data, aff = stored_as(ras * scale, (1.0, 1.0, 1.0), ("L", "P", "S"))
        save_nifti(folder / f"BraTS_0001_{mod}.nii.gz", data, aff)
    seg, aff = stored_as(seg_ras, (1.0, 1.0, 1.0), ("L", "P", "S"))
    save_nifti(folder / "BraTS_0001_seg.nii.gz", seg, aff, dtype=np.uint8)
    return folder, ras, seg_ras


@pytest.fixture
def open_panel(qtbot):
    """Open a plugin panel as napari's Plugins menu does and return the panel itself once built
    (the heavy panels load their modules off the GUI thread first)."""

    def open_it(viewer, name: str):
        _, widget = viewer.window.add_plugin_dock_widget("napari-medsynth", name)
        if hasattr(type(widget), "ready"):
            qtbot.waitUntil(lambda: widget.ready or widget.error is not None, timeout=120_000)
            assert widget.error is None, widget.error
            return widget.inner
        return widget

    return open_it
