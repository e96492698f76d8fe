"""Reader studies: the answer key stays secret, permissions, folder intake, blinding by content,
reader ids that differ in case, and a full disk. Each situation is made inside its test."""

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from napari_medsynth.io import percentile_rescale
from napari_medsynth.reader_study import ReaderSession, SessionWriteError, StudyError, create_study, load_study
from napari_medsynth.reader_study import session as session_module
from napari_medsynth.reader_study.create import _draw_ids
from napari_medsynth.reader_study.leakcheck import WARN_ABOVE, histogram_features, leak_check
from napari_medsynth.reader_study.rng import HashRandom
from napari_medsynth.reader_study.session import read_session_file
from napari_medsynth.reader_study.sheets import read_answers, read_key
from napari_medsynth.reader_study.stimuli import list_folder, read_png

REPO = Path(__file__).resolve().parents[1]


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _noise(k, size=24, seed=0):
    return np.random.default_rng(seed).normal(size=(k, size, size))


# ---- 1. the key cannot be recovered from a guessable seed -------------------------------------

def _replay_seeded_names(seed, n_real, n_synthetic):
    """What a seed alone decides in the creation procedure (study:<seed> generator, every image
    taken, real listed first): shuffle, ids, order seed. Before the fix this was the whole story:
    id -> source for every stimulus, and study.json's order_seed."""
    rng = HashRandom(f"study:{seed}")
    sources = ["real"] * n_real + ["synthetic"] * n_synthetic
    rng.shuffle(sources)
    ids = _draw_ids(len(sources), rng)
    return dict(zip(ids, sources)), rng.getrandbits(63)


def _attack(folder, n_real, n_synthetic, seeds=range(10_001)):
    """Replay seeds against the readers' folder only: the stimulus names and study.json. Returns
    (best seed, names it reproduces, numbers of study.json it reproduces)."""
    names = {p.stem for p in (Path(folder) / "stimuli").glob("*.png")}
    numbers = {v for v in json.loads((Path(folder) / "study.json").read_text()).values() if isinstance(v, int)}
    best = (None, 0, 0)
    for seed in seeds:
        replayed, order_seed = _replay_seeded_names(seed, n_real, n_synthetic)
        hit = (seed, len(names & replayed.keys()), int(order_seed in numbers))
        if hit[1:] > best[1:]:
            best = hit
    return best


def test_replaying_seeds_0_to_10000_recovers_nothing(tmp_path):
    real, synthetic = _noise(10, 16, 1), np.random.default_rng(2).uniform(size=(10, 16, 16))
    # the attack works: a study named the old way (from its seed) is found and read completely
    legacy, _ = _replay_seeded_names(42, 10, 10)
    (tmp_path / "legacy" / "stimuli").mkdir(parents=True)
    for sid in legacy:
        (tmp_path / "legacy" / "stimuli" / f"{sid}.png").touch()
    (tmp_path / "legacy" / "study.json").write_text("{}")
    assert _attack(tmp_path / "legacy", 10, 10, seeds=range(40, 45))[:2] == (42, 20)

    for seed in (0, 42):
        made = create_study(tmp_path / f"s{seed}", real, synthetic, seed=seed, size=16)
        text = (made.folder / "study.json").read_text()
        assert "order_seed" not in text
        best_seed, names_hit, numbers_hit = _attack(made.folder, 10, 10)
        key = read_key(made.key_path)
        replayed, _ = _replay_seeded_names(best_seed, 10, 10)
        recovered = sum(replayed.get(sid) == entry.source for sid, entry in key.items())
        # no seed reproduces the names (one chance coincidence of 6-digit numbers at most) or a number
        assert names_hit <= 1 and numbers_hit == 0 and recovered <= 1, (seed, best_seed, names_hit, recovered)
        assert made.secret_path.is_file() and not made.secret_path.resolve().is_relative_to(made.folder.resolve())
        assert set(p.name for p in made.folder.rglob("*")) <= {"study.json", "stimuli"} | {f"{k}.png" for k in key}


def test_studies_of_format_1_keep_their_reader_order(tmp_path):
    made = create_study(tmp_path / "s", _noise(3), _noise(3, seed=1), size=16)
    settings = json.loads((made.folder / "study.json").read_text())
    del settings["order_key"]
    settings.update(version=1, order_seed=1234)
    (made.folder / "study.json").write_text(json.dumps(settings))
    study = load_study(made.folder)
    expected = list(study.stimulus_ids)
    HashRandom("order:1234:r1").shuffle(expected)
    assert study.reader_order("r1") == expected


# ---- 2. permissions ---------------------------------------------------------------------------

def test_key_is_private_and_study_folder_readable(tmp_path):
    made = create_study(tmp_path / "study", _noise(4), _noise(4, seed=1), size=16)
    (tmp_path / "ref_dir").mkdir()  # what an ordinary mkdir / open give under this umask
    (tmp_path / "ref_file").write_text("x")
    dir_mode, file_mode = _mode(tmp_path / "ref_dir"), _mode(tmp_path / "ref_file")
    assert _mode(made.key_path) == 0o600 and _mode(made.secret_path) == 0o600
    assert _mode(made.folder) == _mode(made.folder / "stimuli") == dir_mode
    assert {_mode(p) for p in made.folder.rglob("*") if p.is_file()} == {file_mode}
    if dir_mode == 0o755:  # the usual umask 022
        assert _mode(made.folder) == 0o755 and _mode(made.folder / "study.json") == 0o644
    assert _mode(made.folder) & 0o500 == 0o500  # the owner can always open it
    with ReaderSession(made.folder, "r1") as s:
        s.answer("real")
        assert _mode(s.path) == file_mode  # the organiser, maybe another account, merges the sessions
    # the key is created private: no moment where it is world-readable, and never overwritten
    with pytest.raises(StudyError, match="already exists"):
        create_study(tmp_path / "other", _noise(4), _noise(4), size=16, key_path=made.key_path)


# ---- 3. a `sage generate` folder gives one stimulus per image --------------------------------

def _sage_generate_folder(folder, n=4):
    """The layout `sage generate --format png` writes: <stem>.npy (float32), <stem>_label.npy
    (uint8), <stem>.png (8-bit twin) and <stem>.json (sidecar)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    for i in range(n):
        stem = f"sage_{i:05d}"
        image = ndimage.gaussian_filter(rng.random((32, 32)), 1).astype(np.float32)
        np.save(folder / f"{stem}.npy", image)
        np.save(folder / f"{stem}_label.npy", (image > 0.5).astype(np.uint8) * 3)
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(folder / f"{stem}.png")
        (folder / f"{stem}.json").write_text('{"source": "sage"}')


def test_sage_generate_output_gives_only_images(tmp_path):
    _sage_generate_folder(tmp_path / "synthetic")
    (tmp_path / "real").mkdir()
    for i in range(4):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (32, 32), dtype=np.uint8)).save(
            tmp_path / "real" / f"r{i}.png")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "napari_medsynth.cli", "study", "create", "--real", tmp_path / "real",
                           "--synthetic", tmp_path / "synthetic", "--size", "24", "--out", tmp_path / "study"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "all: 4 synthetic" in proc.stdout and "leak check: a logistic regression" in proc.stdout
    assert "8 file(s) left out as label maps, masks or second renderings" in proc.stderr
    key = read_key(tmp_path / "study_key.csv")
    synthetic = sorted(Path(e.origin).name for e in key.values() if e.source == "synthetic")
    assert synthetic == [f"sage_{i:05d}.npy" for i in range(4)]  # the float original, not the PNG twin
    # a real case folder: segmentations and tissue maps are not stimuli either
    case = tmp_path / "case"
    case.mkdir()
    for name in ("c_t1.npy", "c_seg.npy", "c_labels7.npy", "c_brainmask.npy", "c_t2.npy", "c_t2.png"):
        if name.endswith(".npy"):
            np.save(case / name, np.random.default_rng(0).random((8, 8)))
        else:
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(case / name)
    skipped = []
    assert [Path(i.origin).name for i in list_folder(case, "real", "all", skipped=skipped)] == ["c_t1.npy", "c_t2.npy"]
    assert sorted(skipped) == ["c_brainmask.npy", "c_labels7.npy", "c_seg.npy", "c_t2.png"]


# ---- 4. blinding by content -------------------------------------------------------------------

def _brain(rng, size=100):
    """A brain-like slice in 0..1 (smooth texture, darker ventricle) and its inside."""
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    a, b = rng.uniform(0.30, 0.42, 2)
    inside = (yy / a) ** 2 + (xx / b) ** 2 < 1
    texture = ndimage.gaussian_filter(rng.normal(size=(size, size)), 3)
    texture = 1 / (1 + np.exp(-2 * texture / texture.std()))
    ventricle = np.exp(-(((yy - rng.uniform(-0.05, 0.05)) / 0.12) ** 2 + (xx / 0.05) ** 2))
    return np.where(inside, 0.1 + 0.85 * texture * (1 - 0.6 * ventricle), 0.0), inside


def _sources(n=40, gamma=1.0, seed=0):
    """Real: 8-bit, 121 grey levels, background exactly 0. Synthetic: float, noisy background
    (and, with gamma < 1, brighter anatomy: a real difference in content)."""
    rng = np.random.default_rng(seed)
    real = [(np.round(_brain(rng)[0] * 120) * 2).astype(np.uint8) for _ in range(n)]
    synthetic = []
    for _ in range(n):
        img, inside = _brain(rng)
        synthetic.append(np.where(inside, img ** gamma, rng.normal(0, 0.03, img.shape)).astype(np.float32))
    return real, synthetic


def _naive(img):
    return np.round(percentile_rescale(np.asarray(img, float), 0.5, 99.5) * 255).astype(np.uint8)


def test_preparation_equalises_background_and_grey_levels(tmp_path):
    real, synthetic = _sources()
    labels = [False] * len(real) + [True] * len(synthetic)
    # without equalisation (window + 8 bits only) a histogram classifier sees the source at once
    naive = leak_check(np.array([histogram_features(_naive(i)) for i in real + synthetic]), labels)
    assert naive.accuracy >= 0.95
    made = create_study(tmp_path / "study", real, synthetic, size=100, seed=1)
    assert made.leak is not None and made.leak.accuracy < 0.65, made.leak  # measured: 0.49-0.61 for 5 seeds of _sources
    assert not any("blinding leak" in w for w in made.warnings)
    key = read_key(made.key_path)
    for sid in key:
        pixels = read_png(made.folder / "stimuli" / f"{sid}.png")
        assert (pixels[:5] == 0).all() and (pixels[:, :5] == 0).all()  # outside the brain: exactly 0, both
        assert pixels.max() == 255
    levels = {s: [np.unique(read_png(made.folder / "stimuli" / f"{sid}.png")).size for sid, e in key.items()
                  if e.source == s] for s in ("real", "synthetic")}
    assert abs(np.mean(levels["real"]) - np.mean(levels["synthetic"])) < 5  # was 121 vs 256


def test_leaky_content_is_reported_at_create(tmp_path):
    real, synthetic = _sources(gamma=0.3)  # synthetic anatomy much brighter: content, not preparation
    made = create_study(tmp_path / "study", real, synthetic, size=100, seed=1)
    assert made.leak.accuracy > 0.8 > WARN_ABOVE  # measured: 0.85-0.95 for 5 seeds of _sources
    warning = next(w for w in made.warnings if "blinding leak" in w)
    assert f"{made.leak.accuracy:.0%} accuracy" in warning and "before giving the study to readers" in warning


# ---- 5. reader ids that differ only in case ---------------------------------------------------

def test_reader_ids_ignore_case(tmp_path):
    made = create_study(tmp_path / "study", _noise(3), _noise(3, seed=1), size=16)
    with ReaderSession(made.folder, "Twin") as s:
        s.answer("real")
        s.answer("real")
        order = s.order
    with ReaderSession(made.folder, "twin") as s:
        assert s.n_answered == 2 and s.order == order  # the same reader, file and order
        s.answer("synthetic")
    assert [p.name for p in (made.folder / "sessions").iterdir()] == ["twin.jsonl"]
    # an older version wrote one file per spelling: both are refused, with the reason
    (made.folder / "sessions" / "TWIN.jsonl").write_text("")
    with pytest.raises(StudyError, match=r"differ only in letter case \(TWIN.jsonl, twin.jsonl\)"):
        ReaderSession(made.folder, "Twin")
    (made.folder / "sessions" / "TWIN.jsonl").unlink()
    # answer sheets: spellings are merged into one reader, and the organizer is told
    key = read_key(made.key_path)
    ids = sorted(key)
    (tmp_path / "a.csv").write_text(f"stimulus_id,answer,tumor_answer,reader\n{ids[0]},R,,Anna\n")
    (tmp_path / "b.csv").write_text(f"stimulus_id,answer,tumor_answer,reader\n{ids[1]},R,,anna\n")
    found = read_answers([tmp_path / "a.csv", tmp_path / "b.csv"], key)
    assert {a.reader for a in found.answers} == {"anna"}
    assert any("'Anna', 'anna' differ only in letter case" in n for n in found.notes)
    (tmp_path / "b.csv").write_text(f"stimulus_id,answer,tumor_answer,reader\n{ids[0]},F,,ANNA\n")
    with pytest.raises(StudyError, match=r"reader 'anna' answered stimulus \d+ twice"):
        read_answers([tmp_path / "a.csv", tmp_path / "b.csv"], key)


# ---- 6. a full disk ---------------------------------------------------------------------------

def test_disk_full_while_answering_keeps_earlier_answers(tmp_path, monkeypatch):
    made = create_study(tmp_path / "study", _noise(3), _noise(3, seed=1), size=16)
    real_write, real_fsync = os.write, os.fsync
    with ReaderSession(made.folder, "r1") as s:
        s.answer("real")
        s.answer("synthetic")
        stuck = s.current

        def full_disk(fd, data):  # a few bytes go out, then the device is full
            if fd == s._fd:
                if len(data) > 10:
                    return real_write(fd, bytes(data[:10]))
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write(fd, data)

        monkeypatch.setattr(session_module.os, "write", full_disk)
        with pytest.raises(SessionWriteError, match=r"NOT saved: the disk is full .*Your 2 earlier answer\(s\) are "
                                                    r"saved\. Free some space, then give this answer again"):
            s.answer("real")
        assert s.current == stuck and s.n_answered == 2
        assert len(read_session_file(s.path)) == 2 and s.path.read_bytes().endswith(b"}\n")  # no torn bytes
        monkeypatch.setattr(session_module.os, "write", real_write)
        monkeypatch.setattr(session_module.os, "fsync", lambda fd: (_ for _ in ()).throw(
            OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))) if fd == s._fd else real_fsync(fd))
        with pytest.raises(SessionWriteError, match="the disk is full"):  # full at fsync (network shares)
            s.answer("real")
        monkeypatch.setattr(session_module.os, "fsync", real_fsync)
        s.answer("real")  # space again: the same answer goes through
    records = read_session_file(made.folder / "sessions" / "r1.jsonl")
    assert [r["answer"] for r in records] == ["real", "synthetic", "real"] and records[2]["stimulus_id"] == stuck


def test_disk_full_while_creating_leaves_nothing(tmp_path, monkeypatch):
    from napari_medsynth.reader_study import create as create_module

    def full(path, pixels):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(create_module, "write_png", full)
    with pytest.raises(StudyError, match=r"could not create the study .*the disk is full .*Nothing was kept"):
        create_study(tmp_path / "study", _noise(3), _noise(3, seed=1), size=16)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
