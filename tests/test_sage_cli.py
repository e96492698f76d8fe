"""``napari-medsynth sage generate / merge / regenerate`` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sage_studio_helpers import STEPS, make_shape_checkpoint, make_small_dataset

from napari_medsynth._sample_data import sample_case_dir

REPO = Path(__file__).resolve().parents[1]


def cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "napari_medsynth.cli", "sage", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("sagecli")
    data = make_small_dataset(root / "data", root / "work")
    return data, make_shape_checkpoint(data, root / "ckpt")


def test_generate_then_regenerate_from_the_sidecar(setup, tmp_path):
    data, ckpts = setup
    out = tmp_path / "out"
    r = cli("generate", "--dataset", data, "--checkpoints", ckpts, "--n", 2, "--out", out, "--seed", 5,
            "--texture-steps", STEPS, "--format", "png")
    assert r.returncode == 0, r.stderr
    assert "2 images with sidecars" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ["sage_00000.json", "sage_00000.npy", "sage_00000.png",
                                                      "sage_00000_label.npy", "sage_00001.json", "sage_00001.npy",
                                                      "sage_00001.png", "sage_00001_label.npy"]
    record = json.loads((out / "sage_00001.json").read_text())
    assert record["source"] == "sage" and record["spec"]["shape"]["mode"] == "noise"
    r = cli("regenerate", out / "sage_00001.json", "--out", tmp_path / "again")
    assert r.returncode == 0, r.stderr
    assert "identical bit for bit" in r.stdout
    assert np.load(tmp_path / "again" / "sage_00001.npy").tobytes() == np.load(out / "sage_00001.npy").tobytes()


def test_merge_into_a_healthy_volume_and_bad_slices(setup, tmp_path):
    data, ckpts = setup
    volume = sample_case_dir("MSYN-H01") / "MSYN-H01_t1ce.nii.gz"
    r = cli("merge", "--phi", volume, "--slice", 85, "--dataset", data, "--checkpoints", ckpts, "--n", 1,
            "--out", tmp_path, "--shape", "real", "--texture-steps", STEPS, "--format", "nifti")
    assert r.returncode == 0, r.stderr
    record = json.loads((tmp_path / "sage_00000.json").read_text())
    assert record["spec"]["phi"] == {"index": None, "volume": str(volume.resolve()), "slice": 85}
    label = np.load(tmp_path / "sage_00000_label.npy")
    assert label.shape == (240, 240) and label.any()
    assert (tmp_path / "sage_00000.nii.gz").is_file() and (tmp_path / "sage_00000_label.nii.gz").is_file()

    r = cli("merge", "--phi", volume, "--slice", 2, "--dataset", data, "--n", 1, "--out", tmp_path / "x")
    assert r.returncode == 2 and "slice 2 shows no brain; choose one of" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_bad_input_is_one_line_not_a_traceback(setup, tmp_path):
    data, ckpts = setup
    (tmp_path / "empty").mkdir()
    r = cli("generate", "--dataset", tmp_path / "empty", "--n", 1, "--out", tmp_path / "o")
    assert r.returncode == 2 and "is not a tumor-crop dataset" in r.stderr and "Traceback" not in r.stderr
    r = cli("generate", "--dataset", data, "--checkpoints", tmp_path / "empty", "--n", 1, "--out", tmp_path / "o")
    assert r.returncode == 2 and "has no sage-lmsgan.pt" in r.stderr
    r = cli("generate", "--dataset", data, "--n", 0, "--out", tmp_path / "o")
    assert r.returncode == 2 and "--n must be at least 1" in r.stderr
    sidecar = tmp_path / "s.json"
    sidecar.write_text("not json")
    r = cli("regenerate", sidecar)
    assert r.returncode == 2 and "not a readable JSON sidecar" in r.stderr and "Traceback" not in r.stderr
