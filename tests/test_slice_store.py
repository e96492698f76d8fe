"""The slice store: build once, memory-map, and feed the 2-D recipes the same batches as the folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_medsynth.data.paired import PairedSliceDataset
from napari_medsynth.data.store import SliceStore, is_store
from napari_medsynth.data.store_build import build_store
from napari_medsynth.data.store_datasets import StorePairs, StoreSlices
from napari_medsynth.io import write_volume
from napari_medsynth.train.data import DatasetError

SHAPE = (32, 40, 40)  # display order: axial slices first
#: T1-Gd-like intensity per complete class (0 BG, 1 NCR, 2 ED, 3 ET, 4 WM, 5 GM, 6 CSF).
INTENSITY = np.array([0, 300, 550, 1100, 900, 650, 250], np.float32)
TO_SEG = np.array([0, 1, 2, 4, 0, 0, 0], np.uint8)
TO_TISSUE = np.array([0, 0, 0, 0, 3, 2, 1], np.uint8)
NAMES = {"brats2018": {"t1ce": "_t1ce", "flair": "_flair", "seg": "_seg", "labels7": "_labels7",
                       "tissues": "_tissues", "t1": "_t1"},
         "brats2023": {"t1ce": "-t1c", "flair": "-t2f", "seg": "-seg", "labels7": "-labels7",
                       "tissues": "-tissues", "t1": "-t1n"}}


def phantom(seed: int, tumor: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(labels7, MR) in display orientation: a ball of CSF/GM/WM shells, empty top and bottom slices."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:SHAPE[0], :SHAPE[1], :SHAPE[2]].astype(np.float32)
    r = np.sqrt((z - 16) ** 2 + (y - 20 + rng.uniform(-2, 2)) ** 2 + (x - 20) ** 2)
    lab = np.zeros(SHAPE, np.uint8)
    lab[r < 14] = 6
    lab[r < 12.5] = 5
    lab[r < 9] = 4
    if tumor:
        t = np.sqrt((z - 14 - seed % 3) ** 2 + (y - 17) ** 2 + (x - 22) ** 2)
        lab[t < 5] = 2
        lab[t < 3.5] = 3
        lab[t < 2] = 1
    mr = INTENSITY[lab] * rng.uniform(0.8, 1.2) + np.where(lab > 0, rng.normal(0, 30, SHAPE), 0)
    return lab, np.clip(mr, 1, None).astype(np.float32) * (lab > 0)


def write_case(root, case, seed, naming="brats2018", parts=("t1ce", "seg", "labels7"), tumor=True):
    lab, mr = phantom(seed, tumor)
    folder = root / case
    folder.mkdir(parents=True, exist_ok=True)
    seg = TO_SEG[lab]
    if naming == "brats2023":
        seg = np.where(seg == 4, 3, seg).astype(np.uint8)  # BraTS 2023 stores ET as 3
    arrays = {"t1ce": mr, "t1": mr * 0.9, "flair": np.where(lab > 0, 1500 - mr, 0).astype(np.float32),
              "seg": seg, "labels7": lab, "tissues": TO_TISSUE[lab]}
    for part in parts:
        kind = "image" if part in ("t1", "t1ce", "flair") else "labels"
        write_volume(folder / f"{case}{NAMES[naming][part]}.nii.gz", arrays[part], kind=kind, spacing=(1, 1, 1))
    return lab, mr


@pytest.fixture
def cases(tmp_path):
    root = tmp_path / "cases"
    labs = {}
    for i, (case, naming) in enumerate([("CASE-A", "brats2018"), ("CASE-B", "brats2023"), ("CASE-C", "brats2018"),
                                        ("CASE-D", "brats2023")]):
        labs[case] = write_case(root, case, i, naming, parts=("t1ce", "flair", "seg", "labels7"))[0]
    return root, labs


def test_build_reopen_and_memory_map(cases, tmp_path):
    root, labs = cases
    out = build_store(root, tmp_path / "store")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "napari-medsynth-slices" and manifest["version"] == 1
    assert manifest["modalities"] == ["t1ce", "flair"]
    store = SliceStore.open(out)
    assert store.cases == ["CASE-A", "CASE-B", "CASE-C", "CASE-D"] and is_store(out) and not is_store(root)
    rec = store.records[1]
    assert set(rec["sources"]) == {"t1ce", "flair", "seg", "labels7"} and len(rec["sources"]["seg"]["sha256"]) == 64
    kept = {c: [z for z in range(SHAPE[0]) if np.mean(lab[z] > 0) >= 0.02] for c, lab in labs.items()}
    assert 0 < len(kept["CASE-A"]) < SHAPE[0]  # empty slices above and below the ball are dropped
    assert len(store) == sum(map(len, kept.values()))
    for c in store.cases:
        idx = store.slices([c])
        assert store.index["z"][idx].tolist() == kept[c]
        for i in idx[::5]:
            z = int(store.index["z"][i])
            np.testing.assert_array_equal(store.labels7(i), labs[c][z])
            np.testing.assert_array_equal(store.seg(i), TO_SEG[labs[c][z]])  # 2023 ET 3 -> internal 4
            bits = sum(1 << k for k in range(7) if np.any(labs[c][z] == k))
            assert store.index["classes"][i] == bits
    images = store._array(0, "images")
    assert isinstance(images, np.memmap) and images.dtype == np.float16 and images.shape[1:] == (2, 40, 40)
    assert images.min() >= -1 and images.max() <= 1
    assert isinstance(store._array(0, "labels7"), np.memmap)


def test_store_pairs_equal_the_folder_dataset(cases, tmp_path):
    root, _ = cases
    store = SliceStore.open(build_store(root, tmp_path / "store", modalities="t1ce"))
    old = PairedSliceDataset(root, size=32)
    new = StorePairs(store, size=32)
    assert len(new) == len(old) and new.sources == old.sources
    items = [(i, (0,)) for i in range(len(old))]
    a, b = new.batch(items).numpy(), old.batch(items).numpy()
    assert a.shape == b.shape == (len(old), 2, 32, 32)
    np.testing.assert_allclose(a[:, 0], b[:, 0], atol=2e-3)  # float16 storage
    np.testing.assert_array_equal(a[:, 1], b[:, 1])
    np.testing.assert_array_equal(new.labels[[0, 5, len(new) - 1]], old.labels[[0, 5, len(old) - 1]])
    sub = StorePairs(store, size=32, include="CASE-B,CASE-C", exclude="CASE-C")
    assert sub.cases == ["CASE-B"] and {c for c, _ in sub.sources} == {"CASE-B"}
    assert sub.fingerprint != new.fingerprint
    with pytest.raises(DatasetError, match="unknown case"):
        StorePairs(store, size=32, include="CASE-Z")
    with pytest.raises(DatasetError, match="not 'flair'"):
        StorePairs(store, size=32, modality="flair")


def test_prepared_slices_are_reused_within_a_memory_budget(cases, tmp_path, monkeypatch):
    from napari_medsynth.data import store_datasets

    root, _ = cases
    store = SliceStore.open(build_store(root, tmp_path / "store", modalities="t1ce"))
    reads = []
    original = store.image
    monkeypatch.setattr(store, "image", lambda i, m: (reads.append(i), original(i, m))[1])
    ds = StorePairs(store, size=32)
    items = [(i, (0,)) for i in range(4)]
    first = ds.batch(items).numpy()
    assert len(reads) == 4
    np.testing.assert_array_equal(ds.batch(items).numpy(), first)
    assert len(reads) == 4  # the second batch came from the cache
    # a budget of two pairs keeps the two drawn last
    pair_bytes = 32 * 32 * 4 + 32 * 32
    monkeypatch.setattr(store_datasets, "CACHE_BYTES", 2 * pair_bytes)
    small = StorePairs(store, size=32)
    small.batch(items)
    assert small._cache.used == 2 * pair_bytes and len(small._cache._items) == 2
    reads.clear()
    np.testing.assert_array_equal(small.batch(items[2:]).numpy(), first[2:])
    assert reads == []
    small.batch(items[:1])
    assert len(reads) == 1


def test_oversampling_reads_only_the_index(cases, tmp_path):
    root, labs = cases
    store = SliceStore.open(build_store(root, tmp_path / "store"))
    ds = StorePairs(store, size=32)
    n = len(ds)
    tumor = sum(int(np.isin(labs[c][z], (1, 2, 3)).any()) for c, z in ds.sources)
    assert 0 < tumor < n
    assert ds.oversample((1, 2, 3), 3) == 2 * tumor and len(ds) == n + 2 * tumor
    assert store._maps == {}  # neither construction nor oversampling touched a case array
    assert sum(np.isin(labs[c][z], (1, 2, 3)).any() for c, z in ds.sources[n:]) == 2 * tumor
    assert "drawn 3x as often" in ds.describe() and ds.describe().startswith(f"{n} labelled slices")
    with pytest.raises(ValueError, match="at least 1"):
        ds.oversample((1,), 0)


def test_patient_wise_stratified_folds(tmp_path):
    root = tmp_path / "cases"
    for i in range(7):
        write_case(root / ("HGG" if i < 4 else "LGG"), f"P{i}", i, tumor=i % 2 == 0)
    store = SliceStore.open(build_store(root, tmp_path / "store"))
    assert [store.classes[f"P{i}"] for i in range(7)] == ["HGG"] * 4 + ["LGG"] * 3
    folds = store.folds(3, seed=1)
    assert len(folds) == 3
    tests = [c for _, test in folds for c in test]
    assert sorted(tests) == sorted(store.cases)  # every case tested exactly once
    for train, test in folds:
        assert not set(train) & set(test) and sorted(train + test) == sorted(store.cases)
        assert 2 <= len(test) <= 3
        assert sum(store.classes[c] == "LGG" for c in test) == 1  # stratified: 3 LGG over 3 folds
    assert store.folds(3, seed=1) == folds and store.folds(3, seed=2) != folds
    with pytest.raises(DatasetError, match="2 <= k"):
        store.folds(8)


def test_classes_from_csv_name_mapping_and_folders(tmp_path):
    root = tmp_path / "cases"
    write_case(root / "HGG", "G1", 0)
    write_case(root / "LGG", "G2", 1)
    write_case(root, "G3", 2)
    (root / "name_mapping.csv").write_text("Grade,BraTS_2019_subject_ID,BraTS_2020_subject_ID\n"
                                           "HGG,X,G3\nLGG,G1,Y\n")
    store = SliceStore.open(build_store(root, tmp_path / "s1"))
    assert store.classes == {"G1": "LGG", "G2": "LGG", "G3": "HGG"}  # the mapping beats the folder
    sources = {r["id"]: r["class_source"] for r in store.records}
    assert sources == {"G1": "name_mapping.csv", "G2": "folder LGG", "G3": "name_mapping.csv"}
    csv = tmp_path / "classes.csv"
    csv.write_text("case,class\nG2,IDH-mutant\nOTHER,x\n")
    store = SliceStore.open(build_store(root, tmp_path / "s2", classes=csv))
    assert store.classes["G2"] == "IDH-mutant" and store.records[1]["class_source"] == "classes file classes.csv"
    assert SliceStore.open(build_store(root, tmp_path / "s3", classes={"G3": "a"})).classes["G3"] == "a"
    csv.write_text("case,class\nNOBODY,x\n")
    with pytest.raises(DatasetError, match="name none"):
        build_store(root, tmp_path / "s4", classes=csv)


def test_labels7_from_tissues_and_from_the_tissue_step(tmp_path):
    root = tmp_path / "cases"
    lab = write_case(root, "T1", 0, parts=("t1ce", "seg", "tissues"))[0]
    write_case(root, "T2", 1, parts=("t1ce", "t1", "seg"))
    store = SliceStore.open(build_store(root, tmp_path / "store", modalities=["t1ce"]))
    src = {r["id"]: r["labels7_source"] for r in store.records}
    assert src == {"T1": "seg + tissues file", "T2": "computed (napari_medsynth.tissues)"}
    for i in store.slices(["T1"]):
        np.testing.assert_array_equal(store.labels7(i), lab[store.index["z"][i]])
    computed = np.stack([store.labels7(i) for i in store.slices(["T2"])])
    seg = np.stack([store.seg(i) for i in store.slices(["T2"])])
    np.testing.assert_array_equal(np.isin(computed, (1, 2, 3)), seg > 0)  # tumor classes from the seg
    assert set(np.unique(computed[seg == 0]).tolist()) <= {0, 4, 5, 6}
    assert store.records[1]["labels7_info"].get("case") == "T2"


def test_existing_stores_are_refused_overwritten_or_added_to(cases, tmp_path):
    root, _ = cases
    out = build_store(root, tmp_path / "store", modalities="t1ce")
    with pytest.raises(DatasetError, match="already holds a slice store of 4 case"):
        build_store(root, out, modalities="t1ce")
    before = (out / "cases" / "CASE-A" / "images.npy").stat().st_mtime_ns
    write_case(root, "CASE-E", 9, parts=("t1ce", "seg", "labels7"))
    built = []
    build_store(root, out, modalities="t1ce", add=True, progress=lambda d, t, m: built.append(m.split(":")[0]))
    store = SliceStore.open(out)
    assert store.cases[-1] == "CASE-E" and "CASE-E" in built and "CASE-A" not in built
    assert (out / "cases" / "CASE-A" / "images.npy").stat().st_mtime_ns == before
    assert len(store) == len(SliceStore.open(build_store(root, tmp_path / "fresh", modalities="t1ce")))
    with pytest.raises(DatasetError, match="same settings"):
        build_store(root, out, modalities="t1ce", add=True, normalize="brain")
    build_store(root, out, modalities="t1ce", overwrite=True, normalize="brain")
    assert SliceStore.open(out).manifest["normalization"]["over"] == "brain"
    assert len(list(out.glob("index-*.npz"))) == 1
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty and is not a slice store"):
        build_store(root, tmp_path / "other")
    (tmp_path / "other" / "notes.txt").unlink()
    (tmp_path / "other" / "cases" / "X").mkdir(parents=True)
    (tmp_path / "other" / "cases" / "X" / "X_t1ce.nii.gz").write_bytes(b"data")
    with pytest.raises(DatasetError, match="not empty and is not a slice store"):
        build_store(root, tmp_path / "other", overwrite=True)
    with pytest.raises(DatasetError, match="would contain the dataset"):
        build_store(root, tmp_path, overwrite=True)
    assert (tmp_path / "other" / "cases" / "X" / "X_t1ce.nii.gz").exists()


def test_an_interrupted_build_leaves_no_manifest(cases, tmp_path, monkeypatch):
    import napari_medsynth.data.store_build as sb

    root, _ = cases
    real, calls = sb.build_case, []

    def failing(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real(*args, **kw)

    monkeypatch.setattr(sb, "build_case", failing)
    with pytest.raises(RuntimeError):
        build_store(root, tmp_path / "store", modalities="t1ce")
    assert not (tmp_path / "store" / "manifest.json").exists() and (tmp_path / "store" / "cases").is_dir()
    with pytest.raises(DatasetError, match="no manifest"):
        SliceStore.open(tmp_path / "store")
    monkeypatch.setattr(sb, "build_case", real)
    assert len(SliceStore.open(build_store(root, tmp_path / "store", modalities="t1ce")).cases) == 4


def test_damaged_stores_name_the_file(cases, tmp_path):
    root, _ = cases
    out = build_store(root, tmp_path / "store", modalities="t1ce")
    images = out / "cases" / "CASE-B" / "images.npy"
    data = images.read_bytes()
    images.write_bytes(data[:-100])
    with pytest.raises(DatasetError, match="cases/CASE-B/images.npy of case CASE-B is damaged"):
        SliceStore.open(out)
    images.write_bytes(b"\0" * 16 + data[16:])  # right size, broken header: found on first use
    store = SliceStore.open(out)
    with pytest.raises(DatasetError, match="CASE-B/images.npy.*damaged"):
        store.image(int(store.slices(["CASE-B"])[0]), "t1ce")
    images.write_bytes(data)
    (out / "cases" / "CASE-C" / "seg.npy").unlink()
    with pytest.raises(DatasetError, match="cases/CASE-C/seg.npy of case CASE-C is missing"):
        SliceStore.open(out)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "version": 2}))
    with pytest.raises(DatasetError, match="version 2 slice store, written by a newer"):
        SliceStore.open(out)
    (out / "manifest.json").write_text('{"format": "napari-medsynth-slices", "vers')
    assert is_store(out)
    with pytest.raises(DatasetError, match="manifest is damaged"):
        SliceStore.open(out)
    with pytest.raises(DatasetError, match="not a slice store"):
        SliceStore.open(root)


def test_store_slices_crop_like_the_folder_dataset(cases, tmp_path):
    root, _ = cases
    store = SliceStore.open(build_store(root, tmp_path / "store"))
    ds = StoreSlices(store, size=16, modalities=None, load_size=32)
    brainy = int(np.sum(store.fraction("brain_px") >= 0.05))
    assert len(ds) == 2 * brainy and "t1ce, flair" in ds.describe()
    items = [(0, (1, 2)), (1, (1, 3)), (len(ds) - 1, (4,))]
    a, b = ds.batch(items), ds.batch(items)
    assert a.shape == (3, 1, 16, 16) and a.dtype.is_floating_point and bool((a == b).all())
    assert float(a.min()) >= -1 and float(a.max()) <= 1
    assert len(StoreSlices(store, size=16)) == brainy


@pytest.mark.parametrize("recipe", ["spade", "pggan-labels", "dcgan"])
def test_recipes_train_on_a_store(cases, tmp_path, recipe):
    from pggan_helpers import TINY as TINY_PGGAN
    from spade_helpers import TINY_SPADE
    from train_helpers import TINY

    from napari_medsynth.train import StartEvent, Trainer, TrainSettings

    root, _ = cases
    out = build_store(root, tmp_path / "store", modalities="t1ce")
    overrides = {"spade": TINY_SPADE, "pggan-labels": TINY_PGGAN, "dcgan": TINY}[recipe]
    events = []
    settings = TrainSettings(str(out), str(tmp_path / "run"), steps=2, checkpoint_every=2, preview_every=1,
                             device="cpu", seed=2, threads=1)
    done = Trainer(recipe, settings, overrides=dict(overrides), listeners=(events.append,)).run()
    assert done.reason == "finished", done.error
    start = next(e for e in events if isinstance(e, StartEvent))
    assert f"slice store {out}" in start.data
    card = json.loads(next((tmp_path / "run" / "checkpoints").glob("*.json")).read_text())
    ds = StoreSlices(out, 32, modalities=None) if recipe == "dcgan" else StorePairs(out, 16)
    assert card["dataset"]["path"] == str(out) and card["dataset"]["fingerprint"] == ds.fingerprint
    assert card["dataset"]["n_images"] == len(ds) + (0 if recipe != "spade" else ds.oversample((1, 2, 3), 4))


def test_cli_builds_and_describes_a_store(cases, tmp_path, capsys):
    from napari_medsynth.cli import main

    root, _ = cases
    csv = tmp_path / "grades.csv"
    csv.write_text("case,class\nCASE-A,LGG\nCASE-B,HGG\nCASE-C,HGG\nCASE-D,LGG\n")
    store = tmp_path / "store"
    assert main(["dataset", "build", str(root), "--out", str(store), "--modalities", "t1ce", "--classes", str(csv),
                 "--quiet"]) == 0
    assert "4 case(s) (2 HGG, 2 LGG), modalities t1ce" in capsys.readouterr().out
    assert main(["dataset", "info", str(store), "--folds", "2"]) == 0
    text = capsys.readouterr().out
    assert "CASE-D" in text and "patient-wise 2-fold split" in text and "fold 2: 2 train, 2 test" in text
    assert main(["dataset", "build", str(root), "--out", str(store), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "already holds a slice store" in err and "Traceback" not in err
    assert main(["dataset", "info", str(root)]) == 2
    assert "not a slice store" in capsys.readouterr().err


def test_native_crops_are_windows_of_the_stored_slices_never_resized(cases, tmp_path):
    """The SPADE training crops: every sequence of a slice cut at the same place at the stored
    resolution (mirrored at random), the label map with it, centred on a brain pixel."""
    from napari_medsynth.data.native_crops import NativeCrops

    root, _ = cases
    store = SliceStore.open(build_store(root, tmp_path / "store"))
    ds = NativeCrops(str(store.path), 16, ["t1ce", "flair"], exclude="CASE-D")
    assert ds.side == 64 and "random 16 px crops" in ds.describe() and "CASE-D" not in ds.cases
    items = [(i, (i, 3)) for i in range(len(ds))]
    batch = ds.batch(items).numpy()
    assert batch.shape == (len(ds), 3, 16, 16)
    flipped = 0
    for b, (i, _) in enumerate(items):
        g = int(ds.parts[0].indices[i])
        whole = np.concatenate([store.images(g).astype(np.float32), store.labels7(g)[None].astype(np.float32)])
        pad = (64 - whole.shape[-2]) // 2, (64 - whole.shape[-1]) // 2  # centred on the canvas, background
        canvas = np.stack([np.full((64, 64), -1.0 if c < 2 else 0.0, np.float32) for c in range(3)])
        canvas[:, pad[0]:pad[0] + whole.shape[-2], pad[1]:pad[1] + whole.shape[-1]] = whole[[0, 1, 2]]
        crop = batch[b]
        found = [(t, l, f) for t in range(49) for l in range(49) for f in (False, True)
                 if np.array_equal(canvas[:, t:t + 16, l:l + 16][..., ::-1] if f else canvas[:, t:t + 16, l:l + 16],
                                   crop)]
        assert found, f"crop {b} is not a window of its slice"
        flipped += found[0][2]
        assert (crop[2] > 0).any()  # centred on brain
    assert 0 < flipped < len(items)
    np.testing.assert_array_equal(ds.batch(items[:3]).numpy(), batch[:3])  # the key decides the window
