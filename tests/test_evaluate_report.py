"""The evaluate command writes every table and figure from two image folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from eval_helpers import write_blob_folder

from napari_medsynth.evaluate.imagesets import load_image_set

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "napari_medsynth.cli", "evaluate", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_image_set_reads_sidecars_masks_and_class_folders(tmp_path):
    write_blob_folder(tmp_path / "sage", n=4, side=40, per_file_patients=True)
    (tmp_path / "byclass" / "mutated").mkdir(parents=True)
    np.save(tmp_path / "byclass" / "mutated" / "a.npy", np.random.default_rng(0).normal(size=(3, 20, 30)))
    s = load_image_set(tmp_path / "sage", 32)
    assert s.images.shape == (4, 32, 32) and s.images.min() >= -1 and s.images.max() <= 1
    assert list(s.classes) == ["tumor", "control", "tumor", "control"]
    assert list(s.patients) == ["P0", "P1", "P2", "P3"]
    assert s.masks[0].sum() > 0 and s.masks[1].sum() == 0  # _label siblings, not images themselves
    c = load_image_set(tmp_path / "byclass", 16)
    assert len(c) == 3 and set(c.classes) == {"mutated"} and c.masks is None


def test_evaluate_cli_writes_every_table_and_figure(tmp_path):
    real = write_blob_folder(tmp_path / "real", n=24, side=40, seed=0, per_file_patients=True)
    synthetic = write_blob_folder(tmp_path / "synthetic", n=16, side=40, seed=7, blur=0.5)
    out = tmp_path / "report"
    r = _cli("--real", str(real), "--synthetic", str(synthetic), "--out", str(out), "--size", "32",
             "--domain-steps", "30", "--c2st-steps", "30", "--ssim-pairs", "50", "--clusters", "2", "--width", "4",
             "--downstream", "--folds", "2", "--downstream-steps", "3", "--unet-steps", "3", "--amounts", "1",
             "--threads", "1")
    assert r.returncode == 0, r.stderr
    numbers = json.loads((out / "report.json").read_text())
    d = numbers["domain"]
    assert d["classes"] == ["control", "tumor"]
    assert 1.0 <= d["is_real"] <= 2.0 and 1.0 <= d["is_synthetic"] <= 2.0 and d["fid"] >= 0
    assert -1 <= numbers["ssim"]["mean"] <= 1 and numbers["ssim"]["n_pairs"] == 50
    assert numbers["swd"]["resolutions"] == [32, 16] and numbers["swd"]["mean_x1e3"] > 0
    t = numbers["turing"]["statistics"]
    assert t["ci_low"] <= t["accuracy"] <= t["ci_high"] and t["n"] % 2 == 0
    assert numbers["turing"]["n_train_fake"] + t["n"] // 2 <= 16
    ds = numbers["downstream"]
    assert set(ds) == {"classification", "segmentation"}
    assert len(ds["classification"]["values"]["real"]["ACC"]) == 2  # one value per fold
    md = (out / "report.md").read_text()
    for heading in ("## Inception Score and FID", "| Real (baseline, held out) |", "## SSIM and SWD",
                    "## Machine Turing test", "95% CI", "## t-SNE", "## Clusters of synthetic images",
                    "### Classification: control vs tumor (positive: tumor)", "### Segmentation",
                    "| real + classic DA + synthetic x1 |", "PL ACC", "Dice"):
        assert heading in md, heading
    for fig in ("samples.png", "tsne.png", "clusters.png"):
        assert (out / "figures" / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with np.load(out / "clusters.npz") as c:
        assert c["labels"].shape == (16,) and set(c["labels"]) <= {0, 1}
    # the same output folder again: refused, not overwritten
    again = _cli("--real", str(real), "--synthetic", str(synthetic), "--out", str(out))
    assert again.returncode == 2 and "already holds an evaluation" in again.stderr


def test_evaluate_cli_explains_bad_input(tmp_path):
    (tmp_path / "empty").mkdir()
    r = _cli("--real", str(tmp_path / "missing"), "--synthetic", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "real folder" in r.stderr and "does not exist" in r.stderr
    write_blob_folder(tmp_path / "real", n=4)
    r = _cli("--real", str(tmp_path / "real"), "--synthetic", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "no images in synthetic folder" in r.stderr
