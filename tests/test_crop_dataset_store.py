"""The crop dataset's storage: one folder per patient, a manifest without per-crop records, memory maps,
writes of the changed patient only, version-1 folders and their migration."""

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest

from napari_medsynth.cli import main
from napari_medsynth.sage.dataset import (
    ARRAYS,
    CropDataset,
    CropDatasetError,
    CropRecord,
    CropSettings,
    PatientStack,
    PhiRecord,
    migrate,
)

SETTINGS = CropSettings(crop_size=16, phi_size=24)


def patient(pid, n=5, m=3, seed=0):
    """(tc, btc, crops, phi, phi_mask, phi_records) of a made-up patient with random attributes."""
    rng = np.random.default_rng(seed)
    btc = (rng.random((n, 16, 16)) > 0.5).astype(np.uint8)
    tc = (rng.random((n, 16, 16)) * btc).astype(np.float32)
    crops = [CropRecord(pid, i, "control", (0, 5, 1, 6), tuple(rng.random(2).round(6)), float(rng.random() / 10),
                        float(rng.uniform(-90, 90)), int(btc[i].sum())) for i in range(n)]
    phi = rng.random((m, 24, 24)).astype(np.float32)
    return tc, btc, crops, phi, (phi > 0.3).astype(np.uint8), [PhiRecord(pid, 40 + j) for j in range(m)]


def add(root, pid, seed=0, replace=False, **kw):
    ds = CropDataset.open_or_create(root, SETTINGS)
    ds.add_patient(pid, {"class": "control", "image": f"{pid}.nii.gz"}, *patient(pid, seed=seed, **kw),
                   replace=replace)
    ds.save()
    return ds


def snapshot(folder):
    """(inode, mtime) of every file under ``folder``."""
    return {p.relative_to(folder): (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def write_v1(root, patients):
    """A dataset folder in the version-1 layout: four arrays of all patients, records in the manifest."""
    parts = [patient(pid, seed=s) for pid, s in patients]
    root.mkdir(parents=True)
    for name, k in zip(ARRAYS, (0, 1, 3, 4)):
        np.save(root / f"{name}.npy", np.concatenate([p[k] for p in parts]))
    manifest = {"format": "napari-medsynth-crops", "version": 1, "settings": dataclasses.asdict(SETTINGS),
                "patients": {pid: {"class": "control", "n_crops": len(p[2]), "n_phi": len(p[5])}
                             for (pid, _), p in zip(patients, parts)},
                "attributes": {}, "crops": [dataclasses.asdict(r) for p in parts for r in p[2]],
                "phi": [dataclasses.asdict(r) for p in parts for r in p[5]]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return parts


def expected_ranges(crops):
    cen = np.array([r.centroid_rel for r in crops])
    size, ori = np.array([r.size_rel for r in crops]), np.array([r.orientation_deg for r in crops])
    return {"centroid_rel": {"mean": cen.mean(0).tolist(), "std": cen.std(0).tolist()},
            "size_rel": {"mean": size.mean(), "std": size.std()},
            "orientation_deg": {"mean": ori.mean(), "std": ori.std()}}


def test_patients_added_one_by_one_reopen_as_one_dataset(tmp_path):
    root = tmp_path / "ds"
    parts = {}
    for i, pid in enumerate(["P0", "P1", "P2"]):
        add(root, pid, seed=i, n=4 + i)
        parts[pid] = patient(pid, seed=i, n=4 + i)
    ds = CropDataset.load(root)
    assert ds.format_version == 2 and list(ds.patients) == ["P0", "P1", "P2"] and len(ds) == 4 + 5 + 6
    np.testing.assert_array_equal(np.asarray(ds.tc), np.concatenate([p[0] for p in parts.values()]))
    np.testing.assert_array_equal(np.asarray(ds.phi_mask), np.concatenate([p[4] for p in parts.values()]))
    assert ds.crops == [r for p in parts.values() for r in p[2]] and len(ds.phi_records) == len(ds.phi) == 9
    assert ds.tc.shape == (15, 16, 16) and ds.phi.shape == (9, 24, 24) and ds.btc.dtype == np.uint8
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["version"] == 2 and "crops" not in manifest and "phi" not in manifest
    assert manifest["patients"]["P1"]["n_crops"] == 5 and manifest["patients"]["P1"]["n_phi"] == 3
    assert ds.patients["P1"] == {"class": "control", "image": "P1.nii.gz", "n_crops": 5, "n_phi": 3}
    assert sorted(p.name for p in (root / "patients" / "P1").iterdir()) == [
        "btc.npy", "phi.npy", "phi_mask.npy", "records.json", "tc.npy"]
    assert not (root / "tc.npy").exists() and not list(root.rglob(".*tmp"))
    np.testing.assert_array_equal(ds.crop_indices(["P1"]), np.arange(4, 9))
    np.testing.assert_array_equal(ds.phi_indices(["P2", "P0"]), [0, 1, 2, 6, 7, 8])


def test_arrays_are_memory_mapped_and_read_lazily(tmp_path):
    root = tmp_path / "ds"
    for i in range(3):
        add(root, f"P{i}", seed=i)
    ds = CropDataset.load(root)
    assert ds._open == {}  # loading checked the files but keeps no map open
    arrays = ds.patient_arrays("P1")
    for arr in arrays.values():
        assert isinstance(arr, np.memmap) or isinstance(arr.base, np.memmap)
        assert not arr.flags.writeable
    assert set(ds._open) == {(ds._parts["P1"].folder, n) for n in ARRAYS}
    np.testing.assert_array_equal(ds.tc[7], patient("P1", seed=1)[0][2])
    assert not isinstance(ds.tc[7], np.memmap) and ds.tc[7].flags.writeable  # a copy, not the file


def test_stack_indexing_matches_numpy(tmp_path):
    root = tmp_path / "ds"
    for i, n in enumerate((3, 0, 4)):  # a patient without crops in the middle
        add(root, f"P{i}", seed=i, n=n)
    ds = CropDataset.load(root)
    stack, whole = ds.btc, np.asarray(ds.btc)
    assert isinstance(stack, PatientStack) and len(stack) == 7 and stack.ndim == 3
    for key in (0, 3, -1, -7, np.int64(5), slice(None), slice(1, 6, 2), slice(None, None, -1), [6, 0, 3, 3],
                np.array([], int), np.arange(7) % 2 == 0, (2, slice(1, 3)), (slice(2, 5), 0, 1), np.array([[1, 2]])):
        np.testing.assert_array_equal(stack[key], whole[key])
    np.testing.assert_array_equal(ds.tc[ds.btc == 0], np.asarray(ds.tc)[whole == 0])  # a pixel mask
    assert ds.tc.max() == np.asarray(ds.tc).max() and ds.btc.sum(axis=(1, 2)).shape == (7,)
    assert [b.sum() for b in stack] == [int(b.sum()) for b in whole]
    for bad in (7, -8, [0, 9]):
        with pytest.raises(IndexError):
            stack[bad]


def test_add_writes_only_the_new_patient(tmp_path):
    root = tmp_path / "ds"
    for i in range(3):
        add(root, f"P{i}", seed=i)
    before = snapshot(root / "patients")
    manifest_before = (root / "manifest.json").stat().st_ino
    add(root, "P3", seed=3)
    after = snapshot(root / "patients")
    assert {k: v for k, v in after.items() if k.parts[0] != "P3"} == before  # same inodes, same mtimes
    assert sorted(k.name for k in after if k.parts[0] == "P3") == sorted([f"{n}.npy" for n in ARRAYS] +
                                                                          ["records.json"])
    assert (root / "manifest.json").stat().st_ino != manifest_before  # the manifest was replaced
    assert list(CropDataset.load(root).patients) == ["P0", "P1", "P2", "P3"]


def test_replace_and_remove_touch_only_that_patient(tmp_path):
    root = tmp_path / "ds"
    for i in range(3):
        add(root, f"P{i}", seed=i)
    before = snapshot(root / "patients")
    ds = add(root, "P1", seed=9, n=2, replace=True)
    after = snapshot(root / "patients")
    assert {k: v for k, v in after.items() if k.parts[0] in ("P0", "P2")} == \
        {k: v for k, v in before.items() if k.parts[0] in ("P0", "P2")}
    assert not (root / "patients" / "P1").exists() and (root / "patients" / "P1~1").is_dir()
    ds = CropDataset.load(root)
    assert list(ds.patients) == ["P0", "P2", "P1"] and ds.patients["P1"]["n_crops"] == 2  # replaced goes last
    np.testing.assert_array_equal(ds.tc[-2:], patient("P1", seed=9, n=2)[0])
    with pytest.raises(CropDatasetError, match="already in"):
        ds.add_patient("P0", {}, *patient("P0"))
    ds.remove_patient("P0")
    assert (root / "patients" / "P0").is_dir()  # the manifest on disk still names it
    ds.save()
    assert not (root / "patients" / "P0").exists()
    ds = CropDataset.load(root)
    assert list(ds.patients) == ["P2", "P1"] and len(ds) == 7 and {r.patient for r in ds.crops} == {"P1", "P2"}


def test_edited_crop_is_saved_with_its_patient_only(tmp_path):
    root = tmp_path / "ds"
    for i in range(3):
        add(root, f"P{i}", seed=i)
    ds = CropDataset.load(root)
    original = ds.tc[6].copy()
    ds.tc[6] *= 0.5  # crop 1 of P1
    ds.btc[6, 0, :] = 1
    np.testing.assert_allclose(ds.tc[6], original * 0.5)
    before = snapshot(root / "patients")
    ds.save()
    after = snapshot(root / "patients")
    assert {k: v for k, v in after.items() if k.parts[0] != "P1~1"} == \
        {k: v for k, v in before.items() if k.parts[0] != "P1"}
    again = CropDataset.load(root)
    np.testing.assert_allclose(again.tc[6], original * 0.5)
    assert (again.btc[6, 0] == 1).all() and list(again.patients) == ["P0", "P1", "P2"]
    np.testing.assert_array_equal(again.tc[5], patient("P1", seed=1)[0][0])


def test_attribute_ranges_equal_those_of_all_records(tmp_path):
    root = tmp_path / "ds"
    for i in range(4):
        ds = add(root, f"P{i}", seed=i, n=3 + 2 * i)
    ds = CropDataset.load(root)
    want, got = expected_ranges(ds.crops), ds.attribute_ranges()
    for name in want:
        np.testing.assert_allclose(got[name]["mean"], want[name]["mean"], rtol=1e-12)
        np.testing.assert_allclose(got[name]["std"], want[name]["std"], rtol=1e-9)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["attributes"] == got and manifest["patients"]["P2"]["attribute_sums"]["count"] == 7
    ds.remove_patient("P3")
    np.testing.assert_allclose(ds.attribute_ranges()["orientation_deg"]["std"],
                               expected_ranges(ds.crops)["orientation_deg"]["std"], rtol=1e-9)
    with pytest.raises(CropDatasetError, match="no tumor crops"):
        CropDataset.empty(tmp_path / "none", SETTINGS).attribute_ranges()


def test_version_1_folder_opens_and_migrates_on_save(tmp_path):
    root = tmp_path / "v1"
    parts = write_v1(root, [("A", 0), ("B", 1)])
    ds = CropDataset.load(root)
    assert ds.format_version == 1 and list(ds.patients) == ["A", "B"] and len(ds) == 10
    np.testing.assert_array_equal(np.asarray(ds.phi), np.concatenate([p[3] for p in parts]))
    assert ds.attribute_ranges()["size_rel"]["mean"] == pytest.approx(expected_ranges(ds.crops)["size_rel"]["mean"])
    assert ds.files() == [root / "manifest.json"] + [root / f"{n}.npy" for n in ARRAYS]
    ds.add_patient("C", {"class": "mutated"}, *patient("C", seed=2))
    ds.save()
    assert not any((root / f"{n}.npy").exists() for n in ARRAYS)
    assert sorted(p.name for p in (root / "patients").iterdir()) == ["A", "B", "C"]
    again = CropDataset.load(root)
    assert again.format_version == 2 and again.patients["B"]["class"] == "control"
    want = np.concatenate([p[0] for p in parts] + [patient("C", seed=2)[0]])
    np.testing.assert_array_equal(np.asarray(again.tc), want)
    assert again.crops[:10] == [r for p in parts for r in p[2]]


def test_migrate_command(tmp_path, capsys):
    root = tmp_path / "v1"
    parts = write_v1(root, [("A", 0), ("B", 1)])
    assert main(["crops", "migrate", str(root)]) == 0
    assert "format version 1 -> 2 (2 patients, 10 tumor crops, 6 tumor-free slices)" in capsys.readouterr().out
    ds = CropDataset.load(root)
    assert ds.format_version == 2 and not (root / "btc.npy").exists()
    np.testing.assert_array_equal(np.asarray(ds.btc), np.concatenate([p[1] for p in parts]))
    assert "already in format version 2" in migrate(root)
    assert main(["crops", "migrate", str(tmp_path / "nothing")]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["crops", "--out", str(tmp_path / "x")])  # --image is still required for adding
    assert "--image" in capsys.readouterr().err


def test_ids_that_could_leave_the_folder_are_refused(tmp_path):
    root = tmp_path / "deep" / "ds"
    ds = CropDataset.empty(root, SETTINGS)
    for bad in ("../evil", "a/b", "..", ".", "a\\b", "x\x00y", "", "  "):
        with pytest.raises(CropDatasetError, match="cannot be stored"):
            ds.add_patient(bad, {}, *patient(bad))
    for odd in (".hidden", "case 1", "Ünï~%", "p."):
        ds.add_patient(odd, {}, *patient(odd))
    ds.save()
    assert sorted(os.listdir(root)) == ["manifest.json", "patients"] and os.listdir(root.parent) == ["ds"]
    folders = {p.name for p in (root / "patients").iterdir()}
    assert all(not f.startswith(".") and not f.endswith(".") and "/" not in f for f in folders) and len(folders) == 4
    assert list(CropDataset.load(root).patients) == [".hidden", "case 1", "Ünï~%", "p."]
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["patients"]["case 1"]["folder"] = "../../outside"
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CropDatasetError, match="no valid folder for patient 'case 1'"):
        CropDataset.load(root)


def test_damaged_files_give_specific_errors(tmp_path):
    good = tmp_path / "good"
    for i in range(2):
        add(good, f"P{i}", seed=i)

    def damaged(change):
        root = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
        shutil.copytree(good, root)
        change(root, json.loads((root / "manifest.json").read_text()))
        return root

    def manifest(edit):
        def change(root, m):
            edit(m)
            (root / "manifest.json").write_text(json.dumps(m))
        return change

    def truncate(root, m):
        path = root / "patients" / "P1" / "btc.npy"
        path.write_bytes(path.read_bytes()[:-10])

    def wrong_shape(root, m):
        np.save(root / "patients" / "P0" / "phi.npy", np.zeros((2, 24, 24), np.float32))

    cases = [
        (truncate, r"patient 'P1': .*P1.btc\.npy is missing or damaged"),
        (lambda root, m: (root / "patients" / "P0" / "tc.npy").unlink(), r"patient 'P0': .*P0.tc\.npy is missing"),
        (lambda root, m: (root / "patients" / "P1" / "records.json").write_text("{"),
         r"patient 'P1': .*P1.records\.json is missing or damaged"),
        (wrong_shape, r"patient 'P0': .*P0.phi\.npy holds float32 \(2, 24, 24\), but manifest.json lists float32 "
                      r"\(3, 24, 24\)"),
        (manifest(lambda m: m["patients"]["P1"].update(n_crops=4)),
         r"patient 'P1': manifest.json lists 4 crops and 3 tumor-free slices, but .* holds 5 and 3"),
        (manifest(lambda m: m.update(version=3)), "written by a newer napari-medsynth \\(format version 3\\)"),
        (manifest(lambda m: m["patients"]["P0"].pop("folder")), "no valid folder for patient 'P0'"),
        (manifest(lambda m: m.pop("settings")), r"manifest.json is damaged \(KeyError"),
    ]
    for change, message in cases:
        with pytest.raises(CropDatasetError, match=message):
            CropDataset.load(damaged(change))
    CropDataset.load(good)  # the copies were damaged, not the original


def test_a_failed_save_leaves_the_previous_dataset(tmp_path, monkeypatch):
    import napari_medsynth.sage.dataset as dataset

    root = tmp_path / "ds"
    for i in range(2):
        add(root, f"P{i}", seed=i)
    ds = CropDataset.load(root)
    ds.add_patient("P1", {}, *patient("P1", seed=7, n=2), replace=True)
    ds.add_patient("P2", {}, *patient("P2", seed=8))

    def crash(path, text):
        raise OSError("disk full")
    monkeypatch.setattr(dataset, "atomic_write_text", crash)
    with pytest.raises(OSError, match="disk full"):
        ds.save()
    monkeypatch.undo()
    old = CropDataset.load(root)
    assert list(old.patients) == ["P0", "P1"] and old.patients["P1"]["n_crops"] == 5
    np.testing.assert_array_equal(old.tc[5:], patient("P1", seed=1)[0])
    ds.save()  # the retry writes afresh and clears what the failed one left
    assert sorted(p.name for p in (root / "patients").iterdir()) == ["P0", "P1~2", "P2~1"]
    assert list(CropDataset.load(root).patients) == ["P0", "P1", "P2"]


def test_training_set_reads_the_stack(tmp_path):
    from napari_medsynth.sage.training_data import CropTrainingSet

    root = tmp_path / "ds"
    for i in range(3):
        add(root, f"P{i}", seed=i)
    shapes = CropTrainingSet(root, "btc", size=16, patients="P0,P2", augment=False)
    want = np.concatenate([patient("P0")[1], patient("P2", seed=2)[1]]).astype(np.float32) * 2 - 1
    np.testing.assert_array_equal(shapes.images, want)
    assert shapes.patients == ["P0", "P2"]
    before = shapes.fingerprint
    add(root, "P1", seed=5, replace=True)
    assert CropTrainingSet(root, "btc", size=16, patients="P0,P2").fingerprint != before


def test_a_dataset_made_from_whole_arrays_saves_per_patient(tmp_path):
    full = tmp_path / "full"
    for i in range(3):
        add(full, f"P{i}", seed=i)
    ds = CropDataset.load(full)
    keep, keep_phi = np.arange(0, len(ds), 4), ds.phi_indices(["P0", "P2"])
    small = CropDataset(tmp_path / "small", ds.settings, ds.tc[keep], ds.btc[keep], ds.phi[keep_phi],
                        ds.phi_mask[keep_phi], [ds.crops[i] for i in keep], [ds.phi_records[i] for i in keep_phi],
                        ds.patients)
    small.save()
    again = CropDataset.load(tmp_path / "small")
    assert list(again.patients) == ["P0", "P1", "P2"] and [again.patients[p]["n_crops"] for p in again.patients] == [
        2, 1, 1]  # crops 0, 4 | 8 | 12 and the counts of the new dataset, not the old one's
    np.testing.assert_array_equal(np.asarray(again.tc), np.asarray(ds.tc)[keep])
    np.testing.assert_array_equal(np.asarray(again.phi), np.asarray(ds.phi)[keep_phi])
    assert again.patients["P1"]["n_phi"] == 0 and len(again.phi) == 6
    with pytest.raises(ValueError, match="one crop record per tumor crop"):
        CropDataset(tmp_path / "bad", ds.settings, ds.tc[:2], ds.btc[:2], crops=ds.crops[:3])
