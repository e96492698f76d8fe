"""BraTS case folders in both namings (2018-2021 and 2023+), label conventions, float segmentations,
refused folders, and the not-skull-stripped warning; every file is made in the test."""

import warnings

import nibabel as nib
import numpy as np
import pytest

from napari_medsynth._reader import read_path
from napari_medsynth.io import VolumeReadError, case_files, find_cases, read_case, read_volume, write_volume
from napari_medsynth.io.errors import NotSkullStrippedWarning
from napari_medsynth.io.skull import skull_strip_problem, warn_if_not_skull_stripped

SHAPE = (24, 28, 20)


def _brain(rng, shape=SHAPE):
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    inside = zz**2 + yy**2 + xx**2 < 0.8
    img = np.where(inside, 500 + 50 * rng.standard_normal(shape), 0)
    return img.astype(np.int16), inside


def _seg(shape=SHAPE, et=4, dtype=np.uint8):
    seg = np.zeros(shape, dtype)
    seg[10:14, 12:16, 8:12] = 2
    seg[11:13, 13:15, 9:11] = 1
    seg[12, 14, 10] = et
    return seg


def _save(path, data):
    nib.save(nib.Nifti1Image(np.asarray(data), np.diag([-1.0, -1.0, 1.0, 1.0])), str(path))
    return path


def _case(folder, case, naming, et=None, seg_dtype=np.uint8, rng=None):
    rng = rng or np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    ends = {"2018": ("_t1", "_t1ce", "_t2", "_flair", "_seg"), "2023": ("-t1n", "-t1c", "-t2w", "-t2f", "-seg")}[naming]
    for end in ends[:4]:
        _save(folder / f"{case}{end}.nii.gz", _brain(rng)[0])
    et = (4 if naming == "2018" else 3) if et is None else et
    _save(folder / f"{case}{ends[4]}.nii.gz", _seg(et=et, dtype=seg_dtype))
    return folder


@pytest.mark.parametrize("naming", ["2018", "2023"])
def test_both_namings_read_as_one_case_with_internal_tumor_labels(tmp_path, naming):
    case = "BraTS-GLI-00012-000" if naming == "2023" else "Brats18_TCIA01_999_1"
    folder = _case(tmp_path / case, case, naming)
    found = case_files(folder)
    assert found.case == case and found.modalities == ["t1", "t1ce", "t2", "flair"]
    assert found.naming == ("brats2023" if naming == "2023" else "brats2018")
    volumes = read_case(folder)
    seg = volumes[-1]
    assert seg.kind == "labels"
    # one internal vocabulary: ET is 4 whatever the file stores
    assert set(np.unique(seg.data)) == {0, 1, 2, 4}
    assert seg.label_convention == found.naming
    assert int((seg.data == 4).sum()) == 1 and int((seg.data == 1).sum()) == int((_seg() == 1).sum())


def test_2023_segmentation_shows_its_convention_and_writes_back_its_own_values(tmp_path):
    folder = _case(tmp_path / "BraTS-GLI-00001-000", "BraTS-GLI-00001-000", "2023")
    layers = read_path(str(folder))
    seg_data, meta, kind = next(layer for layer in layers if layer[2] == "labels")
    classes = dict(zip(meta["features"]["index"], meta["features"]["class"]))
    assert "3 in the file" in classes[4] and "BraTS 2023" in classes[4]
    # the post-contrast image is the one shown
    shown = [m["name"] for _, m, k in layers if k == "image" and m["visible"]]
    assert shown == ["BraTS-GLI-00001-000-t1c"]
    out = tmp_path / "back-seg.nii.gz"
    write_volume(out, seg_data, meta["metadata"]["medsynth"], kind="labels")
    stored = np.asarray(nib.load(str(out)).dataobj)
    assert set(np.unique(stored)) == {0, 1, 2, 3}
    np.testing.assert_array_equal(stored, _seg(et=3))


def test_convention_comes_from_the_values_when_the_naming_disagrees(tmp_path):
    # a 2018-named file that stores ET as 3 (converted by some tool) is read as BraTS 2023 values
    folder = _case(tmp_path / "X", "X", "2018", et=3)
    seg = read_case(folder)[-1]
    assert seg.label_convention == "brats2023" and 4 in np.unique(seg.data)
    # a file without ET keeps its naming's convention
    no_et = _case(tmp_path / "Y", "Y", "2023", et=2)
    assert read_case(no_et)[-1].label_convention == "brats2023"


def test_segmentation_with_3_and_4_or_foreign_values_is_refused(tmp_path):
    folder = _case(tmp_path / "Z", "Z", "2018")
    seg = _seg()
    seg[0, 0, 0] = 3
    _save(folder / "Z_seg.nii.gz", seg)
    with pytest.raises(VolumeReadError, match="both 3 and 4"):
        read_case(folder)
    seg[0, 0, 0] = 7
    _save(folder / "Z_seg.nii.gz", seg)
    with pytest.raises(VolumeReadError, match=r"Z_seg.nii.gz: holds label values \[7\]"):
        read_case(folder)


def test_float_segmentation_with_integral_values_opens_as_labels(tmp_path):
    folder = _case(tmp_path / "F", "F", "2023", seg_dtype=np.float32)
    assert np.asarray(nib.load(str(folder / "F-seg.nii.gz")).dataobj).dtype == np.float32
    seg = read_case(folder)[-1]
    assert seg.kind == "labels" and seg.data.dtype.kind in "iu"
    assert set(np.unique(seg.data)) == {0, 1, 2, 4}
    # opened on its own, too
    (data, meta, kind), = read_path(str(folder / "F-seg.nii.gz"))
    assert kind == "labels" and set(np.unique(data)) == {0, 1, 2, 4}
    # non-integral floats are not labels
    bad = _seg().astype(np.float32)
    bad[0, 0, 0] = 0.5
    _save(folder / "F-seg.nii.gz", bad)
    with pytest.raises(VolumeReadError, match="non-integer"):
        read_case(folder)


def test_folder_mixing_two_cases_is_refused_with_the_names(tmp_path):
    folder = _case(tmp_path / "mixed", "CaseA", "2018")
    _save(folder / "CaseB_t2.nii.gz", _brain(np.random.default_rng(1))[0])
    with pytest.raises(VolumeReadError, match="mixes 2 case ids") as err:
        read_case(folder)
    assert "CaseA" in str(err.value) and "CaseB: CaseB_t2.nii.gz" in str(err.value)


def test_folder_holding_a_sequence_twice_is_refused(tmp_path):
    folder = _case(tmp_path / "twice", "C", "2018")
    _save(folder / "C-t1c.nii.gz", _brain(np.random.default_rng(2))[0])  # T1-Gd again, 2023 naming
    with pytest.raises(VolumeReadError, match="t1ce appears twice") as err:
        case_files(folder)
    assert "C_t1ce.nii.gz" in str(err.value) and "C-t1c.nii.gz" in str(err.value)


def test_find_cases_walks_a_dataset_with_both_namings(tmp_path):
    _case(tmp_path / "HGG" / "Brats18_A_1", "Brats18_A_1", "2018")
    _case(tmp_path / "BraTS-GLI-00002-000", "BraTS-GLI-00002-000", "2023")
    found = find_cases(tmp_path)
    assert [(c.case, c.naming) for c in found] == [("BraTS-GLI-00002-000", "brats2023"),
                                                   ("Brats18_A_1", "brats2018")]
    # a folder of symlinked case folders (a common way to assemble a dataset), with a link loop
    linked = tmp_path.parent / (tmp_path.name + "-links")
    linked.mkdir()
    (linked / "one").symlink_to(tmp_path / "HGG" / "Brats18_A_1", target_is_directory=True)
    (linked / "loop").symlink_to(linked, target_is_directory=True)
    assert [c.case for c in find_cases(linked)] == ["Brats18_A_1"]


def _head(rng, shape=(30, 64, 64), zero_background=False):
    """A head: brain, a bright scalp ring around it, and noise in the air (or zeros)."""
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    r = np.sqrt(zz**2 + yy**2 + xx**2)
    img = 20 + 5 * rng.standard_normal(shape)
    if zero_background:
        img[:] = 0
    img[r < 0.95] = 300  # scalp / skull region
    img[r < 0.8] = 500  # brain
    return img.astype(np.float32)


def test_skull_check_tells_heads_from_stripped_brains():
    rng = np.random.default_rng(0)
    brain, _ = _brain(rng, (30, 64, 64))
    spacing = (5.0, 3.0, 3.0)  # a 150 x 192 x 192 mm field of view
    assert skull_strip_problem(brain.astype(np.float32), (1.0, 1.0, 1.0)) is None
    head = _head(rng)
    assert "background around the head was not removed" in skull_strip_problem(head, spacing)
    zeroed = _head(rng, zero_background=True)
    problem = skull_strip_problem(zeroed, spacing)
    assert problem is not None and "more than a brain" in problem
    with pytest.warns(NotSkullStrippedWarning, match="does not look skull-stripped.*HD-BET"):
        warn_if_not_skull_stripped(head, spacing, "native.nii.gz", "the crop extraction")


def test_crop_extraction_and_sage_merge_warn_on_a_head(tmp_path):
    from napari_medsynth.sage.crops import extract_patient
    from napari_medsynth.sage.pipeline import VolumeSlices

    rng = np.random.default_rng(3)
    head = _head(rng, (30, 64, 64))
    labels = np.zeros(head.shape, np.uint8)
    labels[12:18, 28:36, 28:36] = 1
    with pytest.warns(NotSkullStrippedWarning, match="image of P1 does not look skull-stripped"):
        extract_patient(head, labels, patient="P1", spacing=(5.0, 3.0, 3.0))
    path = write_volume(tmp_path / "head.nii.gz", head, spacing=(5.0, 3.0, 3.0))
    with pytest.warns(NotSkullStrippedWarning, match="SAGE merge"):
        VolumeSlices.read(path)
    # a skull-stripped brain gives no warning
    brain, _ = _brain(rng, (30, 64, 64))
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotSkullStrippedWarning)
        VolumeSlices.read(write_volume(tmp_path / "brain.nii.gz", brain.astype(np.float32)))
    assert read_volume(path).kind == "image"
