"""The 7-class complete map of a BraTS case: tumor classes from _seg, WM/GM/CSF from the T1 / T1-Gd."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import save_nifti, stored_as

from napari_medsynth.case_tissues import check_csf_with_t2, labels7_for_case, write_labels7
from napari_medsynth.cli import main
from napari_medsynth.io import VolumeReadError, read_volume
from napari_medsynth.io.case import case_files, read_case_volume
from napari_medsynth.tissues import brain_region, fit_tissues, segment_tissues

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"
CASE = "MSYN-001"
#: Dice per class on MSYN-001 measured with the defaults (WM 0.916, GM 0.882, CSF 0.857), minus a margin.
MIN_DICE = {4: 0.88, 5: 0.84, 6: 0.80}
NAMES = {1: "NCR/NET", 2: "ED", 3: "ET", 4: "WM", 5: "GM", 6: "CSF"}


def dice(a: np.ndarray, b: np.ndarray, value: int) -> float:
    x, y = a == value, b == value
    total = int(x.sum() + y.sum())
    return 2.0 * int((x & y).sum()) / total if total else 1.0


def copy_without_labels7(case: str, dest: Path) -> Path:
    folder = dest / case
    folder.mkdir(parents=True)
    for f in (SAMPLES / case).iterdir():
        if "labels7" not in f.name:
            shutil.copy(f, folder / f.name)
    return folder


def phantom_case(root: Path, case: str = "PH-001", naming: str = "brats2018", shape=(40, 56, 28), seed=0,
                 sequences=("t1",)):
    """A small case folder stored LPS: a round brain (CSF rim, GM, WM core, a CSF 'ventricle') with a
    tumor (necrotic core, enhancing rim, edema). Returns (folder, RAS tissue values 1 CSF 2 GM 3 WM,
    RAS seg in internal values)."""
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*[np.arange(n) - n / 2 + 0.5 for n in shape], indexing="ij")
    r = np.sqrt((x / 18) ** 2 + (y / 25) ** 2 + (z / 12) ** 2)
    tissue = np.zeros(shape, np.uint8)
    tissue[r < 1.0] = 1
    tissue[r < 0.88] = 2
    tissue[r < 0.62] = 3
    tissue[(np.abs(x) < 2.5) & (np.abs(y) < 6) & (np.abs(z) < 4)] = 1  # ventricle
    t = np.sqrt((x - 7) ** 2 + (y + 8) ** 2 + z ** 2)
    seg = np.zeros(shape, np.uint8)
    seg[(t < 7) & (tissue > 0)] = 2
    seg[t < 4.5] = 4
    seg[t < 2.5] = 1
    level = np.array([0, 300, 600, 900], np.float32)
    t1 = level[tissue] + rng.normal(0, 35, shape).astype(np.float32)
    t1[seg == 1], t1[seg == 4], t1[seg == 2] = 250, 1200, 700
    t1 = np.where(tissue > 0, np.clip(t1, 1, None), 0).astype(np.int16)
    folder = root / case
    folder.mkdir(parents=True)
    names = {"brats2018": {"t1": "_t1", "t1ce": "_t1ce", "t2": "_t2", "seg": "_seg"},
             "brats2023": {"t1": "-t1n", "t1ce": "-t1c", "t2": "-t2w", "seg": "-seg"}}[naming]
    for seq in sequences:
        image = t1 if seq != "t2" else np.where(tissue > 0, 1300 - t1, 0).astype(np.int16)
        data, aff = stored_as(image, (1.0, 1.0, 1.0), ("L", "P", "S"))
        save_nifti(folder / f"{case}{names[seq]}.nii.gz", data, aff)
    stored_seg = np.where(seg == 4, 3, seg) if naming == "brats2023" else seg
    data, aff = stored_as(stored_seg.astype(np.uint8), (1.0, 1.0, 1.0), ("L", "P", "S"))
    save_nifti(folder / f"{case}{names['seg']}.nii.gz", data, aff, dtype=np.uint8)
    return folder, tissue, seg


@pytest.fixture(scope="module")
def sample_result(tmp_path_factory):
    folder = copy_without_labels7(CASE, tmp_path_factory.mktemp("labels7"))
    labels7, ref, info = labels7_for_case(folder)
    truth = read_case_volume(case_files(SAMPLES / CASE), "labels7").data
    return labels7, ref, info, truth


def test_sample_case_matches_the_simulations_ground_truth(sample_result):
    labels7, ref, info, truth = sample_result
    assert labels7.dtype == np.uint8 and labels7.shape == truth.shape == ref.data.shape
    assert info["modality"] == "t1ce" and info["case"] == CASE  # the sample cases have no T1
    scores = {c: dice(labels7, truth, c) for c in range(1, 7)}
    print("Dice on " + CASE + ": " + ", ".join(f"{NAMES[c]} {d:.4f}" for c, d in scores.items())
          + f" ({info['seconds']:.1f} s)")
    for c in (1, 2, 3):  # the tumor classes come from the seg unchanged
        assert scores[c] == 1.0
    for c, low in MIN_DICE.items():
        assert scores[c] > low, f"{NAMES[c]} Dice {scores[c]:.4f}"
    brain = brain_region(ref.data)  # the non-zero voxels, holes filled slice by slice
    assert not labels7[~brain].any() and labels7[brain].all()
    assert set(info["ml"]) == {"BG", *NAMES.values()}
    assert info["voxels"]["WM"] == int((labels7 == 4).sum())
    assert info["means"]["CSF"] < info["means"]["GM"] < info["means"]["WM"]
    assert info["warnings"] == []  # plausible WM / GM / CSF shares


def test_mrf_step_is_smoother_and_closer_to_the_truth_than_the_plain_mixture(sample_result):
    _, ref, _, truth = sample_result
    seg = read_case_volume(case_files(SAMPLES / CASE), "seg").data
    zs = slice(50, 90)  # a slab through the tumor keeps the test fast
    image, seg, truth = ref.data[zs], seg[zs], truth[zs]
    brain = brain_region(image)
    plain = segment_tissues(image, brain, seg > 0, "t1ce", beta=0)
    smooth = segment_tissues(image, brain, seg > 0, "t1ce")
    fast_truth = np.select([truth == 4, truth == 5, truth == 6], [3, 2, 1], 0)

    def mean_dice(t):
        return np.mean([dice(t, fast_truth, c) for c in (1, 2, 3)])

    def isolated(t):  # voxels none of whose 6 neighbours shares their class
        same = np.zeros(t.shape, np.int8)
        for axis in range(3):
            for shift in (1, -1):
                same += (np.roll(t, shift, axis=axis) == t)
        return int(((same == 0) & (t > 0)).sum())

    print(f"mean tissue Dice: plain mixture {mean_dice(plain):.4f}, with MRF {mean_dice(smooth):.4f}; "
          f"isolated voxels {isolated(plain)} -> {isolated(smooth)}")
    assert mean_dice(smooth) > mean_dice(plain) + 0.01
    assert isolated(smooth) < 0.5 * isolated(plain)


def test_contrast_order_names_the_classes_per_sequence(tmp_path):
    folder, tissue, seg = phantom_case(tmp_path, sequences=("t1", "t2"))
    ref = read_case_volume(case_files(folder), "t1")
    t1_map, _, _ = labels7_for_case(folder)
    t2_map, _, info = labels7_for_case(folder, modality="t2")
    assert info["modality"] == "t2"
    healthy = (t1_map >= 4)
    assert np.mean(t1_map[healthy] == t2_map[healthy]) > 0.97  # CSF brightest on T2: same classes
    assert set(np.unique(t1_map[healthy]).tolist()) == {4, 5, 6}
    assert ref.data.shape == t1_map.shape
    with pytest.raises(ValueError, match="contrast"):
        fit_tissues(ref.data, ref.data > 0, modality="dwi")


def test_brats2023_seg_gives_enhancing_tumor_as_class_3(tmp_path):
    folder, tissue, seg = phantom_case(tmp_path, case="BraTS-GLI-00001-000", naming="brats2023",
                                       sequences=("t1ce",))
    labels7, ref, info = labels7_for_case(folder)
    assert info["modality"] == "t1ce"
    internal = read_case_volume(case_files(folder), "seg").data  # 1 NCR, 2 ED, 4 ET
    assert (internal == 4).any()
    assert np.all(labels7[internal == 4] == 3) and np.all(labels7[internal == 1] == 1)
    assert np.all(labels7[internal == 2] == 2)
    assert not np.isin(labels7[internal == 0], (1, 2, 3)).any()
    # the phantom's tissues come back (display grid vs RAS storage: compare volumes, not voxels)
    for value, klass in ((1, 6), (2, 5), (3, 4)):
        expected = int(((tissue == value) & (seg == 0)).sum())
        assert abs(int((labels7 == klass).sum()) - expected) < 0.1 * expected
    # written with a BraTS-2023 segmentation as the reference: no ET conversion of class 4 (WM)
    seg_volume = read_case_volume(case_files(folder), "seg")
    assert seg_volume.label_convention == "brats2023"
    out = write_labels7(labels7, seg_volume, tmp_path / "x_labels7.nii.gz")
    np.testing.assert_array_equal(read_volume(out).data, labels7)


def test_missing_seg_or_t1_or_case_is_a_clear_error(tmp_path):
    folder, _, _ = phantom_case(tmp_path, sequences=("t1",))
    next(folder.glob("*_seg.nii.gz")).unlink()
    with pytest.raises(VolumeReadError, match=r"no tumor segmentation \(_seg\)"):
        labels7_for_case(folder)
    folder, _, _ = phantom_case(tmp_path, case="PH-002", sequences=("t2",))
    with pytest.raises(VolumeReadError, match="no T1 or T1-Gd image"):
        labels7_for_case(folder)
    with pytest.raises(VolumeReadError, match="no t1ce image"):
        labels7_for_case(folder, modality="t1ce")
    labels7_for_case(folder, modality="t2")  # a named sequence is used
    (tmp_path / "empty").mkdir()
    with pytest.raises(VolumeReadError, match="no NIfTI"):
        labels7_for_case(tmp_path / "empty")


def test_cli_writes_the_map_on_the_image_grid(tmp_path, capsys):
    folder, _, _ = phantom_case(tmp_path, sequences=("t1", "t1ce"))
    out = tmp_path / "out" / "PH-001_labels7.nii.gz"
    out.parent.mkdir()
    assert main(["labels7", str(folder), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "tissues from t1" in printed and " ml " in printed and "CSF" in printed
    written = read_volume(out)
    ref = read_volume(next(folder.glob("*_t1.nii.gz")))
    assert written.kind == "labels" and written.data.shape == ref.data.shape
    np.testing.assert_allclose(written.affine, ref.affine)
    np.testing.assert_allclose(written.source_affine, ref.source_affine)
    expected, _, _ = labels7_for_case(folder)
    np.testing.assert_array_equal(written.data, expected)
    # errors: a message and exit code 2, no traceback
    next(folder.glob("*_seg.nii.gz")).unlink()
    assert main(["labels7", str(folder), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no tumor segmentation" in err and "Traceback" not in err
    assert main(["labels7", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err


# --- the MR volume panel's button --------------------------------------------------------------


def _open_case(viewer, folder):
    from napari_medsynth._reader import read_path

    for data, meta, kind in read_path(folder):
        getattr(viewer, f"add_{kind}")(data, **meta)


def test_panel_button_adds_the_labels7_layer(make_napari_viewer, qtbot, tmp_path):
    from qtpy.QtCore import Qt

    from napari_medsynth.labels import COMPLETE7
    from napari_medsynth.widgets.volume import VolumeWidget

    folder, _, _ = phantom_case(tmp_path, sequences=("t1", "t1ce"))
    viewer = make_napari_viewer()
    _open_case(viewer, folder)
    panel = VolumeWidget(viewer)
    viewer.window.add_dock_widget(panel, name="MR volume")
    viewer.layers.selection.active = viewer.layers["PH-001_t1ce"]
    qtbot.mouseClick(panel.labels7_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "PH-001_labels7" in viewer.layers, timeout=60_000)
    qtbot.waitUntil(lambda: panel.labels7_button.isEnabled(), timeout=10_000)
    layer = viewer.layers["PH-001_labels7"]
    source = viewer.layers["PH-001_t1"]  # tissues from the T1, whichever layer was selected
    expected, _, _ = labels7_for_case(folder)
    np.testing.assert_array_equal(layer.data, expected)
    np.testing.assert_allclose(layer.scale, source.scale)
    assert layer.metadata["medsynth"]["label_convention"] == ""
    assert layer.metadata["medsynth"]["affine"] == source.metadata["medsynth"]["affine"]
    assert list(layer.features["class"]) == [c.name for c in COMPLETE7]
    assert "PH-001_labels7" in panel.status.text() and "WM" in panel.status.text()
    assert panel.progress.value() == 100


def test_panel_without_a_case_says_so(make_napari_viewer, qtbot, tmp_path):
    from qtpy.QtCore import Qt

    from napari_medsynth.widgets.volume import VolumeWidget

    folder, _, _ = phantom_case(tmp_path, sequences=("t1",))
    next(folder.glob("*_seg.nii.gz")).unlink()
    viewer = make_napari_viewer()
    panel = VolumeWidget(viewer)
    qtbot.mouseClick(panel.labels7_button, Qt.MouseButton.LeftButton)
    assert "Open a BraTS case folder" in panel.status.text()
    _open_case(viewer, folder)
    qtbot.mouseClick(panel.labels7_button, Qt.MouseButton.LeftButton)
    assert "no tumor segmentation" in panel.status.text()
    assert panel.labels7_button.isEnabled() and len(viewer.layers) == 1


def test_csf_that_is_dark_on_t2_becomes_grey_matter():
    tissues = np.array([[1, 1, 1, 2, 2, 3]], np.uint8)
    t2 = np.array([[900.0, 200.0, 950.0, 500.0, 520.0, 400.0]])  # CSF bright on T2, one voxel is not
    assert check_csf_with_t2(tissues, t2) == 1
    np.testing.assert_array_equal(tissues, [[1, 2, 1, 2, 2, 3]])
    no_gm = np.array([[1, 3]], np.uint8)
    assert check_csf_with_t2(no_gm, np.array([[0.0, 1.0]])) == 0 and no_gm.tolist() == [[1, 3]]


def test_several_sequences_separate_tissues_that_t1_alone_cannot():
    """A T1 with almost no GM/WM contrast (as thick-slice clinical T1s) and a T2 that has it: the
    joint fit finds all three tissues, the T1 alone cannot."""
    from napari_medsynth.tissues_multi import fit_tissues_multi

    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:24, :48, :48]
    r = np.hypot(y - 24, x - 24) + 2 * np.sin(z / 3.0)
    truth = np.zeros((24, 48, 48), np.uint8)
    truth[r < 22] = 2  # GM shell
    truth[r < 15] = 3  # WM core
    truth[(r < 5)] = 1  # a CSF "ventricle"
    truth[(r >= 19.5) & (r < 22) & (x < 24)] = 1  # and CSF over one hemisphere
    t1 = np.array([0, 100, 300, 315], np.float32)[truth] + rng.normal(0, 20, truth.shape)
    t2 = np.array([0, 900, 520, 300], np.float32)[truth] + rng.normal(0, 30, truth.shape)
    brain = truth > 0
    t1[~brain] = t2[~brain] = 0
    multi, info = fit_tissues_multi({"t1": t1, "t2": t2}, brain, bias=False)
    single = segment_tissues(t1, brain, bias=False)

    def dice(a, b, c):
        return 2 * np.sum((a == c) & (b == c)) / (np.sum(a == c) + np.sum(b == c))

    assert info["modality"] == "t1+t2"
    assert min(dice(multi, truth, c) for c in (1, 2, 3)) > 0.9
    assert min(dice(single, truth, c) for c in (2, 3)) < 0.8
