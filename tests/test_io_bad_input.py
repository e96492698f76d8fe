"""Every kind of bad input gets a specific message, and napari keeps running."""

import gzip

import nibabel as nib
import numpy as np
import pytest
from conftest import save_nifti

from napari_medsynth.io import NonFiniteVoxelsWarning, VolumeReadError, read_case, read_volume


def test_not_a_nifti(tmp_path):
    p = tmp_path / "notes.nii"
    p.write_text("these are my notes, not an image\n" * 20)
    with pytest.raises(VolumeReadError, match="not a readable NIfTI"):
        read_volume(p)


def test_gz_name_but_not_gzip(tmp_path):
    p = tmp_path / "scan.nii.gz"
    p.write_bytes(b"PK\x03\x04 zip archive" * 30)
    with pytest.raises(VolumeReadError, match="not gzip-compressed"):
        read_volume(p)


def test_truncated_gz(tmp_path):
    full = save_nifti(tmp_path / "full.nii.gz", np.random.default_rng(0).normal(size=(40, 40, 30)).astype(np.float32),
                      np.eye(4))
    raw = open(full, "rb").read()
    p = tmp_path / "cut.nii.gz"
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(VolumeReadError, match="truncated or corrupt"):
        read_volume(p)


def test_truncated_uncompressed(tmp_path):
    full = save_nifti(tmp_path / "full.nii", np.ones((30, 30, 30), np.float32), np.eye(4))
    p = tmp_path / "cut.nii"
    p.write_bytes(open(full, "rb").read()[:5000])
    with pytest.raises(VolumeReadError, match="the file is truncated: the header needs"):
        read_volume(p)


def test_absurd_header_dims_refused_before_allocating(tmp_path):
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((2000, 2000, 500))  # claims 2e9 voxels
    hdr.set_data_dtype(np.float32)
    p = tmp_path / "huge.nii.gz"
    with gzip.open(p, "wb") as fh:  # header plus a few bytes: nothing like 8 GB
        fh.write(hdr.binaryblock + b"\x00" * 4 + b"\x00" * 1000)
    with pytest.raises(VolumeReadError, match=r"claims 2,000,000,000 voxels"):
        read_volume(p)


def test_nan_and_inf_are_warned_and_replaced(tmp_path):
    data = np.ones((6, 6, 6), np.float32)
    data[1, 1, 1] = np.nan
    data[2, 2, 2] = np.inf
    p = save_nifti(tmp_path / "nan.nii.gz", data, np.eye(4))
    with pytest.warns(NonFiniteVoxelsWarning, match="2 voxel"):
        vol = read_volume(p)
    assert np.isfinite(vol.data).all() and vol.nonfinite_replaced == 2


def test_2d_file_becomes_one_slice(tmp_path):
    p = save_nifti(tmp_path / "slice.nii.gz", np.arange(30, dtype=np.float32).reshape(5, 6), np.eye(4))
    vol = read_volume(p)
    assert vol.data.shape == (1, 6, 5)


def test_4d_file_gives_channels(tmp_path):
    data = np.stack([np.full((5, 6, 7), c, np.float32) for c in range(3)], axis=-1)
    vol = read_volume(save_nifti(tmp_path / "multi.nii.gz", data, np.eye(4)))
    assert vol.data.shape == (3, 7, 6, 5) and vol.kind == "image"
    assert [float(c.mean()) for c in vol.data] == [0.0, 1.0, 2.0]


def test_5d_refused(tmp_path):
    p = save_nifti(tmp_path / "five.nii.gz", np.zeros((3, 3, 3, 2, 2), np.float32), np.eye(4))
    with pytest.raises(VolumeReadError, match="5-D data .* is not supported"):
        read_volume(p)


def test_trailing_unit_dims_are_dropped(tmp_path):
    vol = read_volume(save_nifti(tmp_path / "pad.nii.gz", np.ones((4, 5, 6, 1, 1), np.float32), np.eye(4)))
    assert vol.data.shape == (6, 5, 4)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.nii.gz"
    p.write_bytes(b"")
    with pytest.raises(VolumeReadError, match=r"the file is empty \(0 bytes\)"):
        read_volume(p)


def test_case_folder_shape_mismatch(tmp_path):
    folder = tmp_path / "case1"
    folder.mkdir()
    save_nifti(folder / "case1_t1ce.nii.gz", np.ones((10, 10, 8), np.float32), np.eye(4))
    save_nifti(folder / "case1_seg.nii.gz", np.zeros((10, 10, 9), np.uint8), np.eye(4), dtype=np.uint8)
    with pytest.raises(VolumeReadError, match=r"shape mismatch inside the case: case1_t1ce.nii.gz is \(10, 10, 8\) "
                                              r"but case1_seg.nii.gz is \(10, 10, 9\)"):
        read_case(folder)


def test_labels_that_are_not_integers(tmp_path):
    p = save_nifti(tmp_path / "x_seg.nii.gz", np.full((4, 4, 4), 0.5, np.float32), np.eye(4))
    with pytest.raises(VolumeReadError, match="non-integer values"):
        read_volume(p)


def test_napari_shows_the_message_and_keeps_running(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"")
    with pytest.raises(Exception, match=r"the file is empty"):
        viewer.open(str(bad), plugin="napari-medsynth")
    good = save_nifti(tmp_path / "ok.nii.gz", np.ones((4, 5, 6), np.float32), np.eye(4))
    viewer.open(good, plugin="napari-medsynth")
    assert [layer.name for layer in viewer.layers] == ["ok"]


def test_a_folder_without_nifti_files_or_case_folders(tmp_path):
    from napari_medsynth.io.case import cases_in

    (tmp_path / "scans" / "sub").mkdir(parents=True)
    (tmp_path / "scans" / "readme.txt").write_text("no images here")
    with pytest.raises(VolumeReadError, match=r"^scans: the folder holds no NIfTI files \(.nii / .nii.gz\) and no "
                                              r"case folders below it \(folders with BraTS-named files"):
        cases_in(tmp_path / "scans")
    save_nifti(tmp_path / "scans" / "sub" / "X-t2f.nii.gz", np.ones((3, 3, 3), np.float32), np.eye(4))
    assert [c.case for c in cases_in(tmp_path / "scans")] == ["X"]
