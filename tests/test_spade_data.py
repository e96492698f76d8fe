"""Paired slices from BraTS case folders: a given tissue map, or the named intensity fallback."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import save_nifti
from spade_helpers import phantom_case

from napari_medsynth.data.paired import PairedSliceDataset, intensity_tissues
from napari_medsynth.train.data import DatasetError

#: complete class -> (BraTS seg, FAST tissue)
TO_SEG = np.array([0, 1, 2, 4, 0, 0, 0], np.uint8)
TO_TISSUE = np.array([0, 0, 0, 0, 3, 2, 1], np.uint8)


def brats_case(root, case, seed, with_tissues):
    lab, mr = phantom_case(seed)
    folder = root / case
    folder.mkdir(parents=True)
    save_nifti(folder / f"{case}_t1ce.nii.gz", mr, np.eye(4))
    save_nifti(folder / f"{case}_seg.nii.gz", TO_SEG[lab], np.eye(4))
    if with_tissues:
        save_nifti(folder / f"{case}_tissues.nii.gz", TO_TISSUE[lab], np.eye(4))
    return lab


def test_a_given_tissue_map_rebuilds_the_complete_map(tmp_path):
    brats_case(tmp_path, "BraTS-A", 0, with_tissues=True)
    ds = PairedSliceDataset(tmp_path, size=40, pad_to=40)
    lab, _ = phantom_case(0)
    assert len(ds) > 0
    # Every class of the phantom comes back, tumor classes renumbered 1/2/4 -> 1/2/3.
    assert set(np.unique(ds.labels).tolist()) == set(np.unique(lab).tolist())
    assert "tissue classes from the given _tissues maps" in ds.describe()
    assert "fallback" not in ds.describe()


def test_seg_without_tissues_needs_a_choice(tmp_path):
    brats_case(tmp_path, "BraTS-B", 1, with_tissues=False)
    with pytest.raises(DatasetError, match="_tissues.*intensity"):
        PairedSliceDataset(tmp_path, size=40, pad_to=40)
    ds = PairedSliceDataset(tmp_path, size=40, pad_to=40, tissues="intensity")
    assert "intensity-based 3-class fallback" in ds.describe()
    assert set(np.unique(ds.labels).tolist()) >= {1, 2, 3, 4, 5, 6}


def test_intensity_fallback_finds_the_tissues_of_a_t1_image():
    lab, mr = phantom_case(2)
    seg = TO_SEG[lab]
    tissues = intensity_tissues(mr.astype(np.float32), seg, "t1ce")
    healthy = (lab >= 4)
    agreement = np.mean(tissues[healthy] == TO_TISSUE[lab][healthy])
    assert agreement > 0.95
    assert not tissues[lab == 0].any() and not tissues[seg > 0].any()
    # On a T2 image CSF is brightest: the same clusters get the opposite names.
    inverted = np.where(lab > 0, 1200 - mr, 0).astype(np.float32)
    t2 = intensity_tissues(inverted, seg, "t2")
    assert np.mean(t2[healthy] == TO_TISSUE[lab][healthy]) > 0.95
    with pytest.raises(DatasetError, match="contrast"):
        intensity_tissues(mr, seg, "dwi")


def test_intensity_fallback_on_the_sample_anatomy():
    """Against the atlas tissue classes of a sample case: a rough but useful stand-in."""
    from train_helpers import REPO_ROOT

    from napari_medsynth.io import read_volume

    case = REPO_ROOT / "sample_data" / "MSYN-H01"
    mr = read_volume(case / "MSYN-H01_t1ce.nii.gz").data
    lab = read_volume(case / "MSYN-H01_labels7.nii.gz", kind="labels").data
    tissues = intensity_tissues(mr, np.zeros_like(lab), "t1ce")
    brain = lab >= 4
    agreement = np.mean(tissues[brain] == TO_TISSUE[lab][brain])
    assert agreement > 0.6


def test_bad_brats_labels_are_named(tmp_path):
    lab, mr = phantom_case(3)
    folder = tmp_path / "BraTS-C"
    folder.mkdir()
    save_nifti(folder / "BraTS-C_t1ce.nii.gz", mr, np.eye(4))
    save_nifti(folder / "BraTS-C_seg.nii.gz", lab, np.eye(4))  # 7-class values in a _seg file
    with pytest.raises(DatasetError, match="BraTS tumor labels are 0, 1, 2, 4"):
        PairedSliceDataset(tmp_path, size=40, pad_to=40, tissues="intensity")


def test_spade_trains_on_brats_folders_and_names_the_fallback(tmp_path):
    from spade_helpers import TINY_SPADE

    from napari_medsynth.train import StartEvent, Trainer, TrainSettings

    brats_case(tmp_path / "data", "BraTS-D", 4, with_tissues=False)
    brats_case(tmp_path / "data", "BraTS-E", 5, with_tissues=True)
    events = []
    settings = TrainSettings(str(tmp_path / "data"), str(tmp_path / "out"), steps=1, preview_every=0,
                             device="cpu", threads=1)
    done = Trainer("spade", settings, overrides={**TINY_SPADE, "tissues": "intensity"},
                   listeners=(events.append,)).run()
    assert done.reason == "finished"
    start = next(e for e in events if isinstance(e, StartEvent))
    assert "1 with tissue classes from the given _tissues maps" in start.data
    assert "1 with tissue classes from the intensity-based 3-class fallback" in start.data


def test_tumor_slices_can_be_drawn_more_often(tmp_path):
    from spade_helpers import make_paired_cases

    ds = PairedSliceDataset(make_paired_cases(tmp_path, n=1), size=40, pad_to=40)
    n = len(ds)
    tumor = int(np.isin(ds.labels, (1, 2, 3)).any(axis=(1, 2)).sum())
    assert 0 < tumor
    assert ds.oversample((1, 2, 3), 3) == 2 * tumor
    assert len(ds) == n + 2 * tumor and len(ds.sources) == len(ds)
    assert ds.describe().startswith(f"{n} labelled slices")
    assert "drawn 3x as often" in ds.describe()
    with pytest.raises(ValueError, match="at least 1"):
        ds.oversample((1,), 0)
