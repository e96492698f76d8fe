"""Files stored RAS, LAS, LSA, LPS or oblique, isotropic or not, display the same way up."""

import numpy as np
import pytest
from conftest import ras_phantom, save_nifti, stored_as

from napari_medsynth.io import read_volume
from napari_medsynth.layer_ops import describe


def _display_from_ras(ras):
    """Expected display array: axes (S, P, L) from a RAS-indexed array."""
    return np.transpose(ras, (2, 1, 0))[:, ::-1, ::-1]


@pytest.mark.parametrize("axcodes", [("R", "A", "S"), ("L", "A", "S"), ("L", "S", "A"), ("L", "P", "S"),
                                     ("P", "I", "R")])
def test_every_storage_orientation_displays_identically(tmp_path, axcodes):
    ras = ras_phantom()
    data, aff = stored_as(ras, (1.0, 1.0, 1.0), axcodes)
    path = save_nifti(tmp_path / "vol.nii.gz", data, aff)
    vol = read_volume(path)
    np.testing.assert_array_equal(vol.data, _display_from_ras(ras))
    # radiological display: the bright right-anterior-superior landmark sits at high slice index,
    # top rows (anterior) and left columns (patient's right)
    s, p, l = np.argwhere(vol.data == 1000.0).mean(axis=0)
    assert s > vol.data.shape[0] / 2 and p < vol.data.shape[1] / 2 and l < vol.data.shape[2] / 2
    # the kept affine maps display voxels to the same scanner coordinates as the file did
    idx = np.argwhere(data == 1000.0)[0]
    world = aff @ np.r_[idx, 1]
    didx = np.linalg.solve(vol.affine, world)[:3]
    assert vol.data[tuple(np.round(didx).astype(int))] == 1000.0


def test_anisotropic_voxels_become_layer_scale(tmp_path):
    ras = ras_phantom((20, 22, 6))
    data, aff = stored_as(ras, (0.78, 0.78, 6.5), ("L", "S", "A"))
    vol = read_volume(save_nifti(tmp_path / "aniso.nii.gz", data, aff))
    assert vol.spacing == pytest.approx((6.5, 0.78, 0.78))
    assert vol.data.shape == (6, 22, 20)


def test_image_and_labels_of_different_storage_overlay(tmp_path):
    ras = ras_phantom()
    labels = (ras == 1000.0).astype(np.uint8)
    img, aff_img = stored_as(ras, (1, 1, 2), ("L", "P", "S"))
    lab, aff_lab = stored_as(labels, (1, 1, 2), ("R", "A", "S"))
    vi = read_volume(save_nifti(tmp_path / "img.nii.gz", img, aff_img))
    vl = read_volume(save_nifti(tmp_path / "lab_seg.nii.gz", lab, aff_lab, dtype=np.uint8))
    assert vl.kind == "labels" and vi.kind == "image"
    np.testing.assert_allclose(vi.affine, vl.affine)
    assert np.all(vi.data[vl.data == 1] == 1000.0)


def test_oblique_file_is_shown_in_closest_axes_and_reported(tmp_path):
    ras = ras_phantom()
    data, aff = stored_as(ras, (1.0, 1.0, 1.0), ("L", "A", "S"))
    th = np.deg2rad(12)
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]
    vol = read_volume(save_nifti(tmp_path / "obl.nii.gz", data, rot @ aff))
    np.testing.assert_array_equal(vol.data, _display_from_ras(ras))
    assert vol.spacing == pytest.approx((1.0, 1.0, 1.0))
    assert "Oblique: yes" in describe(vol.metadata(), vol.data.shape, vol.spacing)
