"""A mistyped argument or a bad input file is reported before torch is imported or a model loads.

One subprocess runs every failing command in turn through ``napari_medsynth.cli.main`` and reports
after each whether torch has been imported by then: no timing, so nothing flaky.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import save_nifti

RUNNER = """if True:
    import contextlib, io, json, sys
    from napari_medsynth.cli import main
    results = []
    for argv in json.loads(sys.argv[1]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as exc:  # argparse errors
                rc = exc.code
        results.append({"rc": rc, "err": err.getvalue(), "torch": "torch" in sys.modules})
    print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    (d / "bad.nii.gz").write_bytes(b"PK\x03\x04 a zip archive, not a NIfTI" * 10)
    save_nifti(d / "seg.nii.gz", np.full((6, 6, 3), 9, np.uint8), np.eye(4), dtype=np.uint8)
    save_nifti(d / "map.nii.gz", np.ones((6, 6, 3), np.uint8), np.eye(4), dtype=np.uint8)
    (d / "data").mkdir()
    (d / "a_file").write_text("x")
    return d


CASES = [  # argv (with {d} for the inputs folder), what stderr says
    (["train", "nosuch", "--data", "{d}/data", "--out", "{d}/o"], "unknown recipe 'nosuch'; available: sage-lmsgan"),
    (["train", "dcgan", "--data", "{d}/missing", "--out", "{d}/o"], "train: error: dataset folder"),
    (["train", "dcgan", "--data", "{d}/data", "--out", "{d}/a_file"], "output folder {d}/a_file is a file"),
    (["train", "dcgan", "--data", "{d}/data", "--out", "{d}/o", "--steps", "0"], "steps must be at least 1"),
    (["train", "dcgan", "--data", "{d}/data", "--out", "{d}/o", "--set", "width"], "--set expects KEY=VALUE"),
    (["spade", "render", "{d}/bad.nii.gz", "--out", "{d}/o.nii.gz"], "bad.nii.gz: named .nii.gz but is not gzip"),
    (["spade", "render", "{d}/none.nii.gz", "--out", "{d}/o.nii.gz"], "label map {d}/none.nii.gz not found"),
    (["spade", "render", "{d}/seg.nii.gz", "--out", "{d}/o.nii.gz"], "classes 0-6"),
    (["spade", "render", "{d}/map.nii.gz", "--out", "{d}/o.png"], "choose a .nii or .nii.gz file name"),
    (["spade", "render", "{d}/map.nii.gz", "--out", "{d}/o.nii.gz", "--checkpoint", "{d}/x.pt"],
     "checkpoint {d}/x.pt not found"),
    (["spade", "render", "{d}/bad.nii.gz", "--out", "{d}/o.nii.gz", "--trust-changed"], "not gzip-compressed"),
    (["pggan", "sample", "--n", "0", "--out", "{d}/p"], "--n must be at least 1"),
    (["pggan", "sample", "--n", "2", "--out", "{d}/p", "--checkpoint", "{d}/x.pt"], "checkpoint {d}/x.pt not found"),
    (["pggan", "sample", "--n", "2", "--out", "{d}/p", "--reference", "{d}/missing"], "reference folder"),
    (["sage", "generate", "--n", "2", "--out", "{d}/s", "--dataset", "{d}/missing"], "--dataset {d}/missing: folder"),
    (["sage", "merge", "--n", "2", "--out", "{d}/s", "--phi", "{d}/none.nii.gz"], "--phi {d}/none.nii.gz: file not"),
    (["sage", "regenerate", "{d}/none.json"], "sidecar {d}/none.json not found"),
    (["export", "{d}/x.pt", "--out", "{d}/y.pt"], "checkpoint {d}/x.pt not found"),
    (["export", "{d}/a_file", "--out", "{d}/y.zip"], "name the exported checkpoint *.pt"),
    (["evaluate", "--real", "{d}/missing", "--synthetic", "{d}/data", "--out", "{d}/e"], "real folder"),
    (["dataset", "build", "{d}/missing", "--out", "{d}/st"], "does not exist or is not a folder"),
    (["open", "{d}/bad.nii.gz"], "not gzip-compressed"),
    (["open", "{d}/data"], "data: the folder holds no NIfTI files"),
]


def test_bad_arguments_and_inputs_fail_before_torch_is_imported(inputs):
    argvs = [[a.format(d=inputs) for a in argv] for argv, _ in CASES]
    out = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(argvs)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout.strip().splitlines()[-1])
    for (argv, expected), got in zip(CASES, results):
        assert got["rc"] == 2, (argv, got)
        assert expected.format(d=inputs) in got["err"] and "Traceback" not in got["err"], (argv, got["err"])
        assert not got["torch"], f"{argv}: torch was imported before the failure was reported"


def test_train_help_lists_every_recipe_on_one_line():
    from napari_medsynth.registry import RECIPES

    out = subprocess.run([sys.executable, "-m", "napari_medsynth.cli", "train", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for e in RECIPES:
        assert sum(line.split()[:1] == [e.name] and line.endswith(e.description) for line in lines) == 1, e.name


def test_info_describes_a_folder_of_case_folders(tmp_path, capsys):
    from napari_medsynth.cli import main

    for case in ("P1", "P2"):
        (tmp_path / "cases" / case).mkdir(parents=True)
        save_nifti(tmp_path / "cases" / case / f"{case}-t1c.nii.gz", np.ones((5, 6, 4), np.float32), np.eye(4))
        save_nifti(tmp_path / "cases" / case / f"{case}-seg.nii.gz", np.zeros((5, 6, 4), np.uint8), np.eye(4),
                   dtype=np.uint8)
    assert main(["info", str(tmp_path / "cases")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("cases: 2 case folders\n")
    assert "  P1: t1ce, seg; 5x6x4; BraTS 2023 names" in out and "  P2: t1ce, seg;" in out
    assert "napari opens all 2 from this folder" in out
