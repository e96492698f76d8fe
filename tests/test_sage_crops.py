"""Tumor crops (TC/BTC), tumor-free slices (PHI) and attributes from labelled volumes."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import save_nifti, stored_as
from scipy import ndimage

from napari_medsynth.io import read_volume
from napari_medsynth.sage.crops import add_volume_pair, extract_patient
from napari_medsynth.sage.dataset import CropDataset, CropDatasetError, CropSettings

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"


def brain_with_tumor(zooms, tumor_deg=30.0, semi=(14.0, 6.0), tumor_z_mm=8.0, fov=(100.0, 120.0, 60.0)):
    """RAS-indexed (image, labels) of an ellipsoid brain with an elongated elliptic-cylinder tumor,
    sampled analytically at voxel size ``zooms`` (mm) so different samplings show one object."""
    shape = [int(round(f / z)) for f, z in zip(fov, zooms)]
    x, y, z = np.meshgrid(*[(np.arange(n) + 0.5) * zz - f / 2 for n, zz, f in zip(shape, zooms, fov)],
                          indexing="ij")
    brain = (x / 42) ** 2 + (y / 52) ** 2 + (z / 28) ** 2 <= 1
    image = np.where(brain, 400 + 60 * np.sin(x / 6.0) * np.cos(y / 9.0), 0).astype(np.float32)
    # tumor centred right-anterior of the middle, major axis tumor_deg from the L-R axis
    t = np.radians(tumor_deg)
    u, v = x - 12, y - 15
    a = u * np.cos(t) + v * np.sin(t)
    b = -u * np.sin(t) + v * np.cos(t)
    inside = ((a / semi[0]) ** 2 + (b / semi[1]) ** 2 <= 1) & (np.abs(z) <= tumor_z_mm)
    core = ((a / (semi[0] * 0.5)) ** 2 + (b / (semi[1] * 0.5)) ** 2 <= 1) & inside
    labels = np.where(core, 1, np.where(inside, 4, 0)).astype(np.uint8)
    image = np.where(core, 150, np.where(inside, 900, image)).astype(np.float32)
    return image, labels


def write_pair(folder, name, zooms, axcodes, **kw):
    image, labels = brain_with_tumor(zooms, **kw)
    folder.mkdir(parents=True, exist_ok=True)
    img, aff = stored_as(image, zooms, axcodes)
    lab, _ = stored_as(labels, zooms, axcodes)
    return (save_nifti(folder / f"{name}_t1ce.nii.gz", img, aff),
            save_nifti(folder / f"{name}_seg.nii.gz", lab, aff, dtype=np.uint8))


def test_sample_case_crops_match_its_labels(tmp_path):
    img_path = SAMPLES / "MSYN-001" / "MSYN-001_t1ce.nii.gz"
    seg_path = SAMPLES / "MSYN-001" / "MSYN-001_seg.nii.gz"
    summary = add_volume_pair(tmp_path / "ds", img_path, seg_path)
    assert summary.patient == "MSYN-001" and summary.klass == "tumor"
    ds = CropDataset.load(tmp_path / "ds")
    seg = read_volume(seg_path).data
    image = read_volume(img_path).data
    tumor_slices = np.flatnonzero((seg > 0).any(axis=(1, 2)))
    assert summary.n_crops + summary.skipped_small == len(tumor_slices) and summary.n_crops > 10
    assert ds.tc.shape == (summary.n_crops, 64, 64) and ds.phi.shape[1:] == (256, 256)
    assert 0 <= ds.tc.min() and ds.tc.max() <= 1 and ds.tc.max() > 0.9
    assert not np.any(ds.tc[ds.btc == 0])  # texture only inside the shape
    for rec, btc in zip(ds.crops, ds.btc):
        lab, n = ndimage.label(seg[rec.slice] > 0, structure=np.ones((3, 3)))
        comp = lab == np.bincount(lab.ravel())[1:].argmax() + 1
        assert rec.area_px == comp.sum() >= 50
        brain = (image[rec.slice] > 0) | (seg[rec.slice] > 0)
        brain = ndimage.binary_fill_holes(brain)
        assert rec.size_rel == pytest.approx(comp.sum() / brain.sum(), rel=1e-5)
        rows, cols = np.nonzero(comp)
        assert rec.bbox == (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1)
        assert 0 <= rec.centroid_rel[0] <= 1 and 0 <= rec.centroid_rel[1] <= 1
        # the square crop keeps the tumor's fill ratio (bbox area / square side^2)
        side = max(np.ptp(rows), np.ptp(cols)) + 1 + 8
        assert btc.mean() == pytest.approx(comp.sum() / side ** 2, abs=0.08)
    # the crop nearest the simulated tumor centre (cases.json, stored voxel) sits where it was put
    vol = read_volume(img_path)
    centre = json.loads((SAMPLES / "cases.json").read_text())["MSYN-001"]["tumor_centre_voxel"]
    z, r, c = np.linalg.solve(vol.affine, vol.source_affine @ np.r_[centre, 1])[:3]
    rec = min(ds.crops, key=lambda q: abs(q.slice - z))
    rows, cols = np.nonzero(ndimage.binary_fill_holes((image[rec.slice] > 0) | (seg[rec.slice] > 0)))
    expected = ((r + 0.5 - rows.min()) / np.ptp(rows + 1), (c + 0.5 - cols.min()) / np.ptp(cols + 1))
    assert np.allclose(rec.centroid_rel, expected, atol=0.06)
    # PHI slices hold no tumor, belong to the patient, and have a brain mask
    assert summary.n_phi == len(ds.phi) > 10
    assert all(not (seg[r.slice] > 0).any() for r in ds.phi_records)
    assert all(m.sum() > 0.1 * m.size * 0.25 for m in ds.phi_mask)
    assert ds.patients["MSYN-001"]["image_sha256"] and ds.patients["MSYN-001"]["settings"]["crop_size"] == 64


def test_healthy_volume_gives_only_tumor_free_slices(tmp_path):
    img_path = SAMPLES / "MSYN-H01" / "MSYN-H01_t1ce.nii.gz"
    summary = add_volume_pair(tmp_path / "ds", img_path, None, settings=CropSettings(phi_size=128))
    ds = CropDataset.load(tmp_path / "ds")
    assert summary.klass == "healthy" and summary.n_crops == 0 and len(ds) == 0
    assert ds.phi.shape[1:] == (128, 128) and len(ds.phi) == summary.n_phi > 60
    # only slices with enough brain: the largest brain slice is among them, the first slice is not
    brain_area = (read_volume(img_path).data > 0).sum(axis=(1, 2))
    slices = {r.slice for r in ds.phi_records}
    assert int(brain_area.argmax()) in slices and 0 not in slices
    assert ds.patients["MSYN-H01"]["labels"] is None


def test_storage_orientation_does_not_change_crops(tmp_path):
    zooms = (1.0, 1.0, 2.0)
    a = add_volume_pair(tmp_path / "a", *write_pair(tmp_path / "ras", "p", zooms, ("R", "A", "S")))
    b = add_volume_pair(tmp_path / "b", *write_pair(tmp_path / "pir", "p", zooms, ("P", "I", "R")))
    assert a.n_crops == b.n_crops > 0
    da, db = CropDataset.load(tmp_path / "a"), CropDataset.load(tmp_path / "b")
    np.testing.assert_array_equal(da.tc, db.tc)
    np.testing.assert_array_equal(da.phi, db.phi)
    assert [r.centroid_rel for r in da.crops] == [r.centroid_rel for r in db.crops]


def test_anisotropic_voxels_give_the_same_tumor_shape(tmp_path):
    iso = add_volume_pair(tmp_path / "iso", *write_pair(tmp_path / "f1", "p", (1.0, 1.0, 2.0), ("R", "A", "S")))
    # 0.5 mm left-right, 1.25 mm front-back, stored LSA: the slice grid is strongly anisotropic
    ani = add_volume_pair(tmp_path / "ani", *write_pair(tmp_path / "f2", "p", (0.5, 1.25, 2.0), ("L", "S", "A")))
    di, da = CropDataset.load(tmp_path / "iso"), CropDataset.load(tmp_path / "ani")
    assert iso.n_crops == ani.n_crops == 8  # 16 mm of tumor at 2 mm slices
    bi, ba = di.btc[len(di) // 2].astype(bool), da.btc[len(da) // 2].astype(bool)
    assert (bi & ba).sum() / (bi | ba).sum() > 0.9
    ri, ra = di.crops[len(di) // 2], da.crops[len(da) // 2]
    assert ra.size_rel == pytest.approx(ri.size_rel, rel=0.05)
    assert ra.area_px == pytest.approx(ri.area_px, rel=0.05)  # both in mm^2 on the 1 mm grid
    assert ra.orientation_deg == pytest.approx(ri.orientation_deg, abs=3)
    assert np.allclose(ra.centroid_rel, ri.centroid_rel, atol=0.02)
    # the tumor's major axis runs 30 deg from left-right; regionprops measures from the row axis
    assert abs(abs(ri.orientation_deg) - 60) < 5
    # without resampling the 0.5 x 1.25 mm grid would squash the shape: the BTC is not squashed
    rows, cols = np.nonzero(ba)
    assert 0.6 < np.ptp(rows) / np.ptp(cols) < 1.6


def test_slices_with_tiny_tumors_are_skipped():
    image, labels = brain_with_tumor((1.0, 1.0, 1.0), semi=(14.0, 6.0), tumor_z_mm=3.0)
    disp_img = np.transpose(image, (2, 1, 0))
    disp_lab = np.transpose(labels, (2, 1, 0)).copy()
    area = int((disp_lab[30] > 0).sum())  # ~ pi * 14 * 6 = 264 px per slice
    z = np.flatnonzero(disp_lab.any(axis=(1, 2)))
    disp_lab[z[0]] = 0
    disp_lab[z[0], 50:55, 60:66] = 2  # a 30-px speck
    small = extract_patient(disp_img, disp_lab, CropSettings(min_tumor_pixels=50))
    assert small.skipped_small == 1 and len(small.crops) == len(z) - 1
    assert z[0] not in {r.slice for r in small.crops}
    none = extract_patient(disp_img, disp_lab, CropSettings(min_tumor_pixels=area + 1))
    assert len(none.crops) == 0 and none.skipped_small == len(z) and none.tc.shape == (0, 64, 64)
    # tumor slices are never tumor-free slices, even when skipped
    assert not set(z) & {r.slice for r in none.phi_records}


def test_only_chosen_labels_form_the_tumor():
    image, labels = brain_with_tumor((1.0, 1.0, 2.0))
    img, lab = np.transpose(image, (2, 1, 0)), np.transpose(labels, (2, 1, 0))
    whole = extract_patient(img, lab, tumor_labels=None)
    core = extract_patient(img, lab, tumor_labels=[1])
    assert len(whole.crops) == len(core.crops)
    assert all(c.area_px < 0.4 * w.area_px for c, w in zip(core.crops, whole.crops))


def test_bad_pairs_are_refused_with_reasons(tmp_path):
    img, seg = write_pair(tmp_path / "a", "p", (1.0, 1.0, 2.0), ("R", "A", "S"))
    other_img, other_seg = write_pair(tmp_path / "b", "q", (1.0, 1.0, 2.0), ("R", "A", "S"), fov=(90.0, 120.0, 60.0))
    with pytest.raises(ValueError, match="does not match"):
        add_volume_pair(tmp_path / "ds", img, other_seg)
    empty = save_nifti(tmp_path / "empty_seg.nii.gz", np.zeros((100, 120, 30), np.uint8),
                       stored_as(np.zeros((100, 120, 30)), (1.0, 1.0, 2.0), ("R", "A", "S"))[1], dtype=np.uint8)
    with pytest.raises(ValueError, match="no tumor voxels"):
        add_volume_pair(tmp_path / "ds", img, empty)
    add_volume_pair(tmp_path / "ds", img, seg)
    with pytest.raises(CropDatasetError, match="already in"):
        add_volume_pair(tmp_path / "ds", img, seg)
    with pytest.raises(CropDatasetError, match="mix sizes"):
        add_volume_pair(tmp_path / "ds", img, seg, patient="p2", settings=CropSettings(crop_size=128))
    again = add_volume_pair(tmp_path / "ds", img, seg, replace=True, klass="mutated")
    ds = CropDataset.load(tmp_path / "ds")
    assert again.total_patients == 1 and {r.klass for r in ds.crops} == {"mutated"}
    assert not list((tmp_path / "ds").glob(".*tmp"))  # atomic writes leave no partial files
