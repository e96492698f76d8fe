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
from napari_medsynth.spade import SpadeRenderer

#: A real glioma that ships as sample data and is no BraTS training case: never seen in training.
CASE = "TCGA-DU-7294"
SEQUENCES = ("t1", "t1ce", "t2", "flair")


@pytest.fixture(scope="module")
def shipped():
    return SpadeRenderer.load()


@pytest.fixture(scope="module")
def case_slices():
    """Five axial slices through the tumor of the real sample case: 7-class maps and the real sequences."""
    from napari_medsynth.io import read_volume

    folder = REPO_ROOT / "sample_data" / CASE
    labels = np.asarray(read_volume(folder / f"{CASE}_labels7.nii.gz", kind="labels").data)
    tumor_z = np.flatnonzero(np.isin(labels, (1, 2, 3)).any(axis=(1, 2)))
    zs = np.linspace(tumor_z[len(tumor_z) // 4], tumor_z[3 * len(tumor_z) // 4], 5).astype(int)
    real = {m: np.asarray(read_volume(folder / f"{CASE}_{m}.nii.gz").data)[zs].astype(np.float32) for m in SEQUENCES}
    return labels[zs], real


def test_shipped_checkpoint_is_the_default_and_has_a_card(shipped):
    path = shipped_checkpoint("spade")
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["recipe"] == "spade"
    assert shipped.modalities == list(SEQUENCES) and shipped.modality == "t1ce"
    assert shipped.sha256 == card["checkpoint_sha256"]
    trained = set(card["training_cases"])
    held_out = set(card["held_out_cases"])
    assert trained and held_out and not trained & held_out  # patient-wise
    assert held_out <= set(card["config"]["exclude"].split(","))
    assert any("BraTS" in c for c in card["citations"]) and card["machine"] and card["wall_time"]


def test_shipped_renders_a_real_unseen_case_with_each_sequences_contrast(shipped, case_slices):
    labels, real = case_slices
    renders = np.stack([shipped.render_all(lab) for lab in labels])  # (5, 4, 240, 240)
    assert renders.shape == (5, 4) + labels.shape[1:]  # on the case's own 240 x 240 grid
    assert not renders[np.broadcast_to(labels[:, None] == 0, renders.shape)].any()  # background exactly 0

    def mean(seq: str, cls: int) -> float:
        return float(renders[:, SEQUENCES.index(seq)][labels == cls].mean())

    assert mean("t1", 4) > mean("t1", 5) > mean("t1", 6)  # T1: WM > GM > CSF
    assert mean("t1ce", 4) > mean("t1ce", 6)
    assert mean("t2", 6) > mean("t2", 5) > mean("t2", 4)  # T2: CSF > GM > WM
    assert mean("flair", 2) > mean("flair", 4) > mean("flair", 6)  # FLAIR: edema bright, CSF dark
    # Texture, not a flat painting: within white matter the render varies about as the real slice does.
    t1ce = real["t1ce"]
    wm = labels == 4
    ratio = (renders[:, 1][wm].std() / renders[:, 1][wm].mean()) / (t1ce[wm].std() / t1ce[wm].mean())
    assert 0.4 < ratio < 2.5
    # Conditioning: a small CSF-filled cavity painted into white matter is dark on T1 and FLAIR, bright on T2.
    from scipy import ndimage

    z = int(np.argmax((labels == 4).sum(axis=(1, 2))))
    inner = ndimage.binary_erosion(labels[z] == 4, iterations=6)
    cy, cx = (int(np.median(v)) for v in np.nonzero(inner))
    yy, xx = np.mgrid[:labels.shape[1], :labels.shape[2]]
    cavity = ((yy - cy) ** 2 + (xx - cx) ** 2 < 64) & (labels[z] == 4)
    edited = labels[z].copy()
    edited[cavity] = 6
    diff = shipped.render_all(edited) - renders[z]
    assert cavity.sum() > 100
    assert diff[0][cavity].mean() < -0.15 and diff[3][cavity].mean() < -0.15 and diff[2][cavity].mean() > 0.2


def test_cli_renders_a_volume_and_keeps_its_affine(tmp_path):
    src = nib.load(REPO_ROOT / "sample_data" / CASE / f"{CASE}_labels7.nii.gz")
    part = np.asarray(src.dataobj)[:, :, 70:73]
    affine = src.affine.copy()
    affine[:3, 3] += affine[:3, 2] * 70
    lab_path = tmp_path / "labels.nii.gz"
    nib.save(nib.Nifti1Image(part.astype(np.uint8), affine), lab_path)
    out = tmp_path / "mr.nii.gz"
    res = subprocess.run(cli("spade", "render", str(lab_path), "--out", str(out), "--style-seed", "2", "--quiet",
                             "--threads", "1"), env=cli_env(), capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    img = nib.load(out)
    np.testing.assert_allclose(img.affine, affine, atol=1e-5)
    data = np.asarray(img.dataobj)
    assert data.shape == part.shape and 0 <= data.min() and data.max() <= 1
    assert data[part == 4].mean() > data[part == 6].mean()  # T1-Gd by default


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
