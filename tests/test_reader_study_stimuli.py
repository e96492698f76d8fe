"""Blinding: real and synthetic stimuli must be indistinguishable except by their content."""

import json
import re
import struct

import numpy as np
import pytest
from conftest import save_nifti
from PIL import Image, PngImagePlugin

from napari_medsynth.reader_study import create_study, load_study
from napari_medsynth.reader_study.private import read_secret
from napari_medsynth.reader_study.rng import HashRandom
from napari_medsynth.reader_study.sheets import read_key
from napari_medsynth.reader_study.stimuli import StimulusError, list_folder, prepare


def _png_chunks(path):
    data = path.read_bytes()[8:]
    chunks = []
    while data:
        (length,) = struct.unpack(">I", data[:4])
        chunks.append(data[4:8].decode())
        data = data[12 + length:]
    return chunks


def _telltale_sources(root, n=12):
    """Real: 16-bit PNGs 120x96 with text metadata and telling names; synthetic: float NPY
    batches 64x64 in a different intensity range. Everything a lazy pipeline would leak."""
    rng = np.random.default_rng(3)
    for group in ("control", "mutated"):
        real = root / "real" / group
        real.mkdir(parents=True)
        for i in range(n):
            img = (rng.normal(2000, 400, size=(120, 96)).clip(0, 65535)).astype(np.uint16)
            info = PngImagePlugin.PngInfo()
            info.add_text("PatientName", f"patient-{i}")
            Image.fromarray(img).save(real / f"REAL_{group}_{i:03d}.png", pnginfo=info)
        synth = root / "synthetic" / group
        synth.mkdir(parents=True)
        np.save(synth / "generated_batch.npy", rng.uniform(-1, 1, size=(n, 64, 64)).astype(np.float32))


def test_no_leakage_between_real_and_synthetic(tmp_path):
    _telltale_sources(tmp_path)
    made = create_study(tmp_path / "study", tmp_path / "real", tmp_path / "synthetic",
                        groups=["control", "mutated"], n=10, seed=7)
    assert made.warnings  # the different native formats are reported to the organizer
    key = read_key(made.key_path)
    study = tmp_path / "study"

    # the folder readers get holds only settings and stimuli: no key, no sidecars
    everything = sorted(p.relative_to(study).as_posix() for p in study.rglob("*"))
    assert set(everything) == {"study.json", "stimuli"} | {f"stimuli/{sid}.png" for sid in key}
    assert not made.key_path.resolve().is_relative_to(study.resolve())
    settings_text = (study / "study.json").read_text()
    for telltale in ("REAL", "real", "synthetic", "generated", "patient", str(tmp_path)):
        assert telltale not in settings_text

    stats = {"real": [], "synthetic": []}
    for sid, entry in key.items():
        path = study / "stimuli" / f"{sid}.png"
        assert re.fullmatch(r"\d{6}\.png", path.name)
        assert _png_chunks(path) == ["IHDR", "IDAT", "IEND"]  # no text/time/dpi chunks
        with Image.open(path) as im:
            assert (im.mode, im.size) == ("L", (100, 100))
            assert not im.info  # no metadata at all
            pixels = np.asarray(im)
        stats[entry.source].append((path.stat().st_size, path.stat().st_mtime_ns, pixels.dtype.str,
                                    int(pixels.min()), int(pixels.max())))
    real, synth = (np.array([s[:2] + s[3:] for s in stats[k]], dtype=np.int64) for k in ("real", "synthetic"))
    assert len(real) == len(synth) == 20
    # identical file sizes and modification times for every stimulus, identical value range
    assert np.unique(np.concatenate([real[:, 0], synth[:, 0]])).size == 1
    assert np.unique(np.concatenate([real[:, 1], synth[:, 1]])).size == 1
    assert {s[2] for v in stats.values() for s in v} == {"|u1"}
    assert (real[:, 2:] == [0, 255]).all() and (synth[:, 2:] == [0, 255]).all()


def test_id_order_is_unrelated_to_source_order(tmp_path):
    """Over many seeds, how many real images fall in the lower half of the sorted ids is what a
    fair coin gives (sources are listed real first, so a naive id assignment would give 100%)."""
    rng = np.random.default_rng(0)
    real = rng.normal(size=(8, 32, 32))
    synth = rng.normal(size=(8, 32, 32))
    shares = []
    for seed in range(12):
        made = create_study(tmp_path / f"s{seed}", real, synth, seed=seed, size=16)
        ids = sorted(read_key(made.key_path))
        key = read_key(made.key_path)
        shares.append(np.mean([key[i].source == "real" for i in ids[:8]]))
    assert 0.3 < np.mean(shares) < 0.7
    assert len(set(map(tuple, (sorted(read_key(tmp_path / f"s{s}_key.csv")) for s in range(12))))) == 12


def test_seed_reproduces_selection_and_secret_the_names(tmp_path):
    """The seed decides which images are picked; the names come from the secret beside the key,
    so one seed with a new secret gives new names, and seed + secret reproduce the study exactly."""
    imgs = np.random.default_rng(1).normal(size=(8, 20, 20))
    a = create_study(tmp_path / "a", imgs, imgs[::-1], n=3, seed="x", size=16)
    b = create_study(tmp_path / "b", imgs, imgs[::-1], n=3, seed="x", size=16)
    key_a, key_b = read_key(a.key_path), read_key(b.key_path)
    assert sorted(e.origin for e in key_a.values()) == sorted(e.origin for e in key_b.values())
    assert key_a.keys() != key_b.keys()  # fresh secret, fresh names
    c = create_study(tmp_path / "c", imgs, imgs[::-1], n=3, seed="x", size=16, secret=read_secret(a.secret_path))
    assert read_key(c.key_path) == key_a
    assert (tmp_path / "c" / "study.json").read_text().replace('"c"', '"a"') == \
        (tmp_path / "a" / "study.json").read_text()
    assert HashRandom(5).sample(range(10**6), 3) == HashRandom(5).sample(range(10**6), 3)
    assert load_study(tmp_path / "a").reader_order("r1") != load_study(tmp_path / "a").reader_order("r2")


def test_nifti_middle_and_all_slices_and_rgb_png(tmp_path):
    vol = np.zeros((16, 16, 6), np.float32)
    vol[4:12, 4:12, 1:5] = np.random.default_rng(0).uniform(1, 2, size=(8, 8, 4))
    folder = tmp_path / "nii"
    folder.mkdir()
    save_nifti(folder / "case.nii.gz", vol, np.eye(4))
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(folder / "rgb.png")
    (folder / "notes.txt").write_text("not an image")
    middle = list_folder(folder, "real", "all")
    every = list_folder(folder, "real", "all", slices="all")
    assert len(middle) == 2 and len(every) == 5  # 4 non-empty axial slices + the PNG
    for img in every:
        out = prepare(img.pixels(), 24)
        assert out.shape == (24, 24) and out.dtype == np.uint8


def test_refusals_are_clear(tmp_path):
    with pytest.raises(StimulusError, match="constant"):
        prepare(np.zeros((10, 10)))
    imgs = np.random.default_rng(1).normal(size=(3, 20, 20))
    with pytest.raises(ValueError, match="4 real images requested, only 3"):
        create_study(tmp_path / "s", imgs, imgs, n=4)
    with pytest.raises(ValueError, match="inside the study folder"):
        create_study(tmp_path / "s", imgs, imgs, key_path=tmp_path / "s" / "key.csv")
    create_study(tmp_path / "t", imgs, imgs, size=16)
    with pytest.raises(ValueError, match="not empty"):
        create_study(tmp_path / "t", imgs, imgs, size=16)
    assert json.loads((tmp_path / "t" / "study.json").read_text())["n_stimuli"] == 6
    assert not list(tmp_path.glob(".s.*")) and not (tmp_path / "s").exists()  # nothing half-made
