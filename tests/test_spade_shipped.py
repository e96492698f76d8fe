"""The shipped SPADE checkpoint renders held-out anatomy with the right contrast, and the CLI uses it."""

from __future__ import annotations

import json
import subprocess

import nibabel as nib
import numpy as np
import pytest
from train_helpers import REPO_ROOT, cli, cli_env

from napari_medsynth._shipped import shipped_checkpoint
from napari_medsynth.cli import main
from napari_medsynth.data.paired import PairedSliceDataset
from napari_medsynth.spade import SpadeRenderer

HELD_OUT = "MSYN-007"


@pytest.fixture(scope="module")
def shipped():
    return SpadeRenderer.load()


def test_shipped_checkpoint_is_the_default_and_has_a_card(shipped):
    path = shipped_checkpoint("spade")
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["recipe"] == "spade"
    assert shipped.size == card["config"]["image_size"]
    assert HELD_OUT in card["config"]["exclude"]  # the case below was not trained on
    assert shipped.sha256 == card["checkpoint_sha256"]


def test_shipped_renders_held_out_slices_like_the_real_ones(shipped):
    from skimage.metrics import structural_similarity

    ds = PairedSliceDataset(REPO_ROOT / "sample_data", shipped.size, include=HELD_OUT)
    idx = np.linspace(len(ds) * 0.3, len(ds) * 0.7, 6).astype(int)
    real = (ds.mr[idx] + 1) / 2
    fake = np.stack(shipped.render_many(list(ds.labels[idx])))
    ssim = np.mean([structural_similarity(f, r, data_range=1.0) for f, r in zip(fake, real)])
    assert ssim > 0.9
    # Texture, not a flat painting: within white matter the render varies about as much as the real slice.
    wm = ds.labels[idx] == 4
    ratio = np.std(fake[wm]) / np.std(real[wm])
    assert 0.5 < ratio < 2.0
    # T1-Gd contrast learnt from data: WM brighter than GM brighter than CSF, enhancing rim brightest.
    labels = ds.labels[idx]
    means = {c: fake[labels == c].mean() for c in (4, 5, 6)}
    assert means[4] > means[5] > means[6]
    # A different label map gives a different image where the labels differ (conditioning works).
    swapped = labels[0].copy()
    swapped[swapped == 4] = 6
    diff = shipped.render(swapped) - shipped.render(labels[0])
    assert diff[labels[0] == 4].mean() < -0.1


def test_cli_renders_a_volume_and_keeps_its_affine(tmp_path):
    src = nib.load(REPO_ROOT / "sample_data" / HELD_OUT / f"{HELD_OUT}_labels7.nii.gz")
    part = np.asarray(src.dataobj)[:, :, 70:73]
    affine = src.affine.copy()
    affine[:3, 3] += affine[:3, 2] * 70
    lab_path = tmp_path / "labels.nii.gz"
    nib.save(nib.Nifti1Image(part.astype(np.uint8), affine), lab_path)
    out = tmp_path / "mr.nii.gz"
    res = subprocess.run(cli("spade", "render", str(lab_path), "--out", str(out), "--style-seed", "2", "--quiet"),
                         env=cli_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    img = nib.load(out)
    np.testing.assert_allclose(img.affine, affine, atol=1e-5)
    data = np.asarray(img.dataobj)
    assert data.shape == part.shape and 0 <= data.min() and data.max() <= 1
    assert data[part == 4].mean() > data[part == 6].mean()


def test_cli_renders_a_single_slice_label_map(tmp_path):
    from napari_medsynth.io import write_volume

    lab = np.zeros((128, 128), np.uint8)
    lab[20:108, 24:104] = 5
    lab[40:88, 44:84] = 4
    lab_path = tmp_path / "map.nii.gz"
    write_volume(lab_path, lab, kind="labels")
    out = tmp_path / "mr.nii"
    assert main(["spade", "render", str(lab_path), "--out", str(out), "--quiet"]) == 0  # in-process: fast
    data = np.squeeze(np.asarray(nib.load(out).dataobj))
    assert data.shape == (128, 128)
    assert data[lab == 4].mean() > data[lab == 5].mean()


def test_cli_refuses_bad_input_with_one_line(tmp_path, capsys):
    bad = tmp_path / "seg.nii.gz"
    nib.save(nib.Nifti1Image(np.full((8, 8, 2), 9, np.uint8), np.eye(4)), bad)
    assert main(["spade", "render", str(bad), "--out", str(tmp_path / "o.nii.gz")]) == 2
    err = capsys.readouterr().err
    assert "classes 0-6" in err and err.count("\n") == 1
    assert main(["spade", "render", str(tmp_path / "none.nii.gz"), "--out", str(tmp_path / "o.nii.gz")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["spade", "render", str(bad), "--out", str(tmp_path / "o.png")]) == 2
    assert ".nii" in capsys.readouterr().err
