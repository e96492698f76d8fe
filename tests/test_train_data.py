"""The training dataset reads .npy and NIfTI folders, normalises them, and explains bad folders."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import save_nifti
from train_helpers import blob_images, make_dataset

from napari_medsynth.train.data import DatasetError, SliceDataset, StepSampler


def test_npy_folder_is_normalised_and_resized(tmp_path):
    make_dataset(tmp_path, n=5, size=40)
    np.save(tmp_path / "wide.npy", blob_images(1, 60)[0][:30])  # 30x60: padded to a square, not stretched
    ds = SliceDataset(tmp_path, size=32, load_size=48)
    assert len(ds) == 6
    assert {s for s, _ in ds.sources} == {"stack.npy", "sub/single.npy", "wide.npy"}
    for img in ds.images:
        assert img.shape == (48, 48) and img.dtype == np.float32
        assert img.min() >= -1.0 and img.max() <= 1.0 and img.max() > 0.5
    wide = ds.images[[s for s, _ in ds.sources].index("wide.npy")]
    assert np.allclose(wide[:10], -1.0) and np.allclose(wide[-10:], -1.0)  # padding rows are background
    batch = ds.batch([(0, (1, 2)), (5, (3, 4))])
    assert tuple(batch.shape) == (2, 1, 32, 32)
    assert np.array_equal(ds.batch([(0, (1, 2))]).numpy(), ds.batch([(0, (1, 2))]).numpy())  # crops are keyed


def test_nifti_volumes_are_sliced_axially_skipping_labels_and_empty_slices(tmp_path):
    vol = np.zeros((20, 20, 10), np.float32)  # x, y, z: 10 axial slices, 6 of them with tissue
    vol[4:16, 4:16, 2:8] = np.random.default_rng(0).uniform(100, 200, (12, 12, 6))
    save_nifti(tmp_path / "case_t1.nii.gz", vol, np.eye(4))
    save_nifti(tmp_path / "case_seg.nii.gz", (vol > 150).astype(np.uint8), np.eye(4), dtype=np.uint8)
    ds = SliceDataset(tmp_path, size=16)
    assert len(ds) == 6
    assert {s for s, _ in ds.sources} == {"case_t1.nii.gz"}
    assert sorted(i for _, i in ds.sources) == [2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("setup,message", [
    (lambda d: None, "no training images"),
    (lambda d: (d / "notes.txt").write_text("hello"), "no training images"),
    (lambda d: (d / "bad.npy").write_bytes(b"\x93NUMPY garbage"), "bad.npy"),
    (lambda d: np.save(d / "obj.npy", np.array([{"a": 1}], dtype=object)), "obj.npy: not a plain numeric"),
    (lambda d: np.save(d / "nan.npy", np.full((8, 8), np.nan)), "NaN"),
    (lambda d: np.save(d / "vol4d.npy", np.zeros((2, 3, 8, 8))), "is not an image"),
    (lambda d: save_nifti(d / "x_seg.nii.gz", np.ones((8, 8, 4), np.uint8), np.eye(4), dtype=np.uint8),
     "label map"),
])
def test_unusable_folders_say_why(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(DatasetError, match=message):
        SliceDataset(tmp_path, size=16)


def test_missing_folder_and_file_path(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        SliceDataset(tmp_path / "nope", size=16)
    make_dataset(tmp_path)
    with pytest.raises(DatasetError, match="is a file"):
        SliceDataset(tmp_path / "stack.npy", size=16)
    with pytest.raises(DatasetError, match=r"matching '\*_t1ce\*'"):
        SliceDataset(tmp_path, size=16, pattern="*_t1ce*")


def test_fingerprint_follows_content_not_location(tmp_path):
    a = make_dataset(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    fa, fb = SliceDataset(a, 16).fingerprint, SliceDataset(b, 16).fingerprint
    assert fa == fb
    np.save(b / "stack.npy", blob_images(11, 40, seed=9))
    assert SliceDataset(b, 16).fingerprint != fa


def test_sampler_resumes_mid_epoch_and_shards_ranks():
    full = StepSampler(10, batch_size=4, seed=5)
    expected = [full.next_batch() for _ in range(7)]  # crosses epoch boundaries
    part = StepSampler(10, batch_size=4, seed=5)
    for _ in range(3):
        part.next_batch()
    resumed = StepSampler(10, batch_size=4, seed=5)
    resumed.load_state_dict(part.state_dict())
    assert [resumed.next_batch() for _ in range(4)] == expected[3:]
    epoch0 = [i for b in expected for i, k in b if k[1] == 0]
    assert sorted(epoch0) == list(range(10))  # every image once per epoch

    r0, r1 = StepSampler(10, 5, seed=5, rank=0, world_size=2), StepSampler(10, 5, seed=5, rank=1, world_size=2)
    shard0, shard1 = {i for i, _ in r0.next_batch()}, {i for i, _ in r1.next_batch()}
    assert shard0.isdisjoint(shard1) and shard0 | shard1 == set(range(10))
