"""``napari-medsynth crops``: repeated runs grow one dataset; bad input gives one-line errors."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from test_sage_crops import write_pair

from napari_medsynth.cli import main
from napari_medsynth.sage.dataset import CropDataset

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "napari_medsynth.cli", "crops", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_repeated_runs_add_patients_to_one_dataset(tmp_path):
    a_img, a_seg = write_pair(tmp_path / "a", "case_a", (1.0, 1.0, 2.0), ("L", "P", "S"))
    b_img, b_seg = write_pair(tmp_path / "b", "case_b", (0.8, 1.2, 3.0), ("P", "I", "R"), tumor_deg=-20)
    out = tmp_path / "crops"
    first = run_cli("--image", a_img, "--labels", a_seg, "--class", "control", "--out", out, "--crop-size", 32)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("case_a (control): 8 tumor crops")
    second = run_cli("--image", b_img, "--labels", b_seg, "--class", "mutated", "--out", out, "--crop-size", 32)
    assert second.returncode == 0, second.stderr
    assert "dataset now 2 patients" in second.stdout
    ds = CropDataset.load(out)
    assert ds.patient_ids() == ["case_a", "case_b"] and ds.tc.shape[1:] == (32, 32)
    assert {r.klass for r in ds.crops if r.patient == "case_b"} == {"mutated"}
    assert ds.patients["case_b"]["spacing_mm"] == [3.0, 1.2, 0.8]
    # the rotated tumor of case_b is measured as rotated the other way
    ori = {p: np.mean([r.orientation_deg for r in ds.crops if r.patient == p]) for p in ds.patient_ids()}
    assert ori["case_a"] > 45 and ori["case_b"] < -45
    # the same patient again: refused, dataset untouched
    again = run_cli("--image", a_img, "--labels", a_seg, "--out", out, "--crop-size", 32)
    assert again.returncode == 2 and "already in" in again.stderr and "Traceback" not in again.stderr
    assert len(CropDataset.load(out)) == len(ds)


def test_errors_are_one_line_messages(tmp_path, capsys):
    img, seg = write_pair(tmp_path / "a", "p", (1.0, 1.0, 2.0), ("R", "A", "S"))
    _, other_seg = write_pair(tmp_path / "b", "q", (1.0, 1.0, 2.0), ("R", "A", "S"), fov=(90.0, 120.0, 60.0))
    out = tmp_path / "ds"
    cases = [
        (["--image", img, "--labels", other_seg, "--out", out], "does not match"),
        (["--image", img, "--labels", seg, "--out", out, "--tumor-labels", "3"], "no tumor voxels"),
        (["--image", img, "--labels", seg, "--out", out, "--tumor-labels", "one"], "integers separated by commas"),
        (["--image", tmp_path / "nope.nii.gz", "--out", out], "file not found"),
        (["--image", img, "--labels", seg, "--out", out, "--crop-size", "4"], "must be >= 8"),
    ]
    for args, message in cases:
        assert main(["crops", *map(str, args)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not out.exists()  # nothing written by refused runs
    assert main(["crops", "--image", str(img), "--labels", str(seg), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["crops", "--image", str(img), "--labels", str(seg), "--out", str(out), "--patient", "p2",
                 "--phi-size", "128"]) == 2
    assert "mix sizes" in capsys.readouterr().err
    assert main(["crops", "--image", str(img), "--labels", str(seg), "--out", str(out), "--replace",
                 "--tumor-labels", "1"]) == 0
    assert CropDataset.load(out).patients["p"]["tumor_labels"] == [1]


def test_folds_never_split_a_patient(tmp_path):
    out = tmp_path / "ds"
    for i, deg in enumerate((0, 30, 60, 90)):
        img, seg = write_pair(tmp_path / f"c{i}", f"pt{i}", (1.0, 1.0, 4.0), ("R", "A", "S"), tumor_deg=deg)
        assert main(["crops", "--image", str(img), "--labels", str(seg), "--out", str(out)]) == 0
    ds = CropDataset.load(out)
    folds = ds.folds(2)
    tested = []
    for train, test in folds:
        assert not set(train) & set(test)
        tr, te = ds.crop_indices(train), ds.crop_indices(test)
        assert len(tr) and len(te) and not set(tr) & set(te)
        assert {ds.crops[i].patient for i in te} == set(test)
        tested += test
    assert sorted(tested) == ds.patient_ids()
