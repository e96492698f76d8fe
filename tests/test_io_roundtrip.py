"""read -> write -> read is exact for data and affine, through napari's own open/save too."""

import nibabel as nib
import numpy as np
import pytest
from conftest import ras_phantom, save_nifti, stored_as

from napari_medsynth.io import read_volume, write_volume


@pytest.mark.parametrize("axcodes,zooms", [(("L", "A", "S"), (1, 1, 1)), (("L", "S", "A"), (0.78, 0.78, 6.5)),
                                           (("R", "A", "S"), (1.2, 1.0, 3.0))])
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_roundtrip_is_exact(tmp_path, axcodes, zooms, dtype):
    data, aff = stored_as(ras_phantom().astype(dtype), zooms, axcodes)
    src = save_nifti(tmp_path / "src.nii.gz", data, aff)
    vol = read_volume(src)
    out = write_volume(tmp_path / "out.nii.gz", vol.data, vol.metadata(), kind=vol.kind)
    a, b = nib.load(src), nib.load(out)
    np.testing.assert_array_equal(np.asanyarray(b.dataobj), np.asanyarray(a.dataobj))
    assert np.asanyarray(b.dataobj).dtype == np.asanyarray(a.dataobj).dtype
    np.testing.assert_array_equal(b.affine, a.affine)
    again = read_volume(out)
    np.testing.assert_array_equal(again.data, vol.data)
    np.testing.assert_array_equal(again.affine, vol.affine)


def test_labels_roundtrip_keeps_integer_values(tmp_path):
    seg = np.zeros((10, 12, 8), np.uint8)
    seg[2:5, 3:6, 1:4] = 4
    seg[3, 4, 2] = 1
    data, aff = stored_as(seg, (1, 1, 1), ("L", "P", "S"))
    src = save_nifti(tmp_path / "case_seg.nii.gz", data, aff, dtype=np.uint8)
    vol = read_volume(src)
    out = write_volume(tmp_path / "again_seg.nii", vol.data, vol.metadata(), kind="labels")
    b = nib.load(out)
    assert b.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asanyarray(b.dataobj), data)


def test_painted_labels_without_source_get_affine_from_scale(tmp_path):
    painted = np.zeros((4, 6, 5), np.int32)
    painted[1, 2, 3] = 2
    out = write_volume(tmp_path / "drawn.nii.gz", painted, None, kind="labels", spacing=(3.0, 0.5, 0.5))
    vol = read_volume(out)
    np.testing.assert_array_equal(vol.data, painted)
    assert vol.spacing == pytest.approx((3.0, 0.5, 0.5))


def test_write_is_atomic_and_leaves_no_temp_file(tmp_path):
    vol_path = tmp_path / "x.nii.gz"
    write_volume(vol_path, np.ones((2, 3, 4), np.float32), None)
    assert [p.name for p in tmp_path.iterdir()] == ["x.nii.gz"]


def test_napari_open_and_save_roundtrip(make_napari_viewer, tmp_path, brats_case):
    folder, _, _ = brats_case
    viewer = make_napari_viewer()
    layers = viewer.open(str(folder / "BraTS_0001_seg.nii.gz"), plugin="napari-medsynth")
    assert type(layers[0]).__name__ == "Labels"
    out = tmp_path / "saved_seg.nii.gz"
    viewer.layers.save(str(out), selected=False, plugin="napari-medsynth")
    a, b = nib.load(folder / "BraTS_0001_seg.nii.gz"), nib.load(out)
    np.testing.assert_array_equal(np.asanyarray(b.dataobj), np.asanyarray(a.dataobj))
    np.testing.assert_array_equal(b.affine, a.affine)


def test_written_files_get_ordinary_permissions(tmp_path):
    """Atomic writes go through a private temporary file; the result must not stay private."""
    import os
    import stat

    from napari_medsynth.io.atomic import atomic_write_text

    mask = os.umask(0)
    os.umask(mask)
    path = atomic_write_text(tmp_path / "note.txt", "hello")
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o666 & ~mask
    assert mode & stat.S_IRGRP  # readable by colleagues under the usual umask (022 / 002)
