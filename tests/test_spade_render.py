"""SpadeRenderer / render_volume: the API the Label->MR widget and the CLI use."""

from __future__ import annotations

import numpy as np
import pytest
from spade_helpers import make_paired_cases, train_tiny_spade

from napari_medsynth.spade import SpadeRenderer, render_volume
from napari_medsynth.train.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("spade")
    return train_tiny_spade(make_paired_cases(root / "data"), root / "out")


@pytest.fixture(scope="module")
def renderer(tiny_checkpoint):
    return SpadeRenderer.load(tiny_checkpoint)


@pytest.fixture(scope="module")
def four_checkpoint(tmp_path_factory):
    """A tiny renderer of T1, T1-Gd, T2 and FLAIR at once."""
    root = tmp_path_factory.mktemp("spade4")
    data = make_paired_cases(root / "data", modalities=("t1", "t1ce", "t2", "flair"))
    return train_tiny_spade(data, root / "out", modalities="t1,t1ce,t2,flair")


@pytest.fixture(scope="module")
def four_sequences(four_checkpoint):
    return SpadeRenderer.load(four_checkpoint)


def brain_map(h=240, w=240):
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - h / 2, xx - w / 2)
    lab = np.zeros((h, w), np.uint8)
    lab[r < 0.45 * min(h, w)] = 6
    lab[r < 0.4 * min(h, w)] = 5
    lab[r < 0.3 * min(h, w)] = 4
    lab[(np.hypot(yy - h / 2, xx - w / 3) < 0.08 * min(h, w))] = 3
    return lab


def test_load_reports_size_and_checkpoint_hash(renderer, tiny_checkpoint):
    import hashlib

    assert renderer.size == 16
    assert renderer.sha256 == hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()


@pytest.mark.parametrize("shape", [(240, 240), (100, 61), (15, 16), (256, 256)])
def test_render_keeps_shape_and_range(renderer, shape):
    out = renderer.render(brain_map(*shape))
    assert out.shape == shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_styles_are_repeatable_and_differ(renderer):
    lab = brain_map()
    a, b = renderer.render(lab, style_seed=3), renderer.render(lab, style_seed=3)
    np.testing.assert_array_equal(a, b)
    styles = renderer.render_styles(lab, [None, 3, 4])
    assert styles.shape == (3, 240, 240)
    np.testing.assert_array_equal(styles[1], a)
    np.testing.assert_array_equal(styles[0], renderer.render(lab))  # None: the mean style, repeatable
    assert np.abs(styles[1] - styles[2]).mean() > 1e-4
    assert np.abs(styles[0] - styles[1]).mean() > 1e-4


def test_renders_on_the_label_grid_without_resizing(renderer):
    """One changed label pixel changes the render most at that pixel: the image is drawn at the
    map's own resolution (a low-resolution render resized up would change a whole block)."""
    lab = brain_map()
    edited = lab.copy()
    edited[100, 131] = 6 if lab[100, 131] != 6 else 4
    diff = np.abs(renderer.render(edited) - renderer.render(lab))
    y, x = np.unravel_index(np.argmax(diff), diff.shape)
    assert abs(int(y) - 100) <= 2 and abs(int(x) - 131) <= 2
    assert diff[100, 131] > 0


def test_one_style_renders_every_sequence(four_sequences):
    r = four_sequences
    assert r.modalities == ["t1", "t1ce", "t2", "flair"] and r.modality == "t1ce"
    lab = brain_map(120, 120)
    every = r.render_all(lab, style_seed=5)
    assert every.shape == (4, 120, 120)
    np.testing.assert_array_equal(r.render(lab, 5, modality="flair"), every[3])
    np.testing.assert_array_equal(r.render(lab, 5), every[1])  # the default: T1-Gd
    assert min(np.abs(every[i] - every[j]).mean() for i in range(4) for j in range(i)) > 1e-3
    vol = np.stack([np.zeros_like(lab), lab])
    out = render_volume(vol, r, style_seed=5, modality="all")
    assert out.shape == (4, 2, 120, 120) and not out[:, 0].any()
    np.testing.assert_allclose(out[2, 1], render_volume(vol, r, style_seed=5, modality="t2")[1], atol=1e-6)


def test_a_sequence_the_model_lacks_is_refused(renderer):
    with pytest.raises(ValueError, match="renders t1ce, not 'flair'"):
        renderer.render(brain_map(32, 32), modality="flair")


def test_render_volume_leaves_empty_slices_black(renderer):
    vol = np.zeros((4, 60, 50), np.uint8)
    vol[1] = brain_map(60, 50)
    vol[3] = brain_map(60, 50)
    out = render_volume(vol, renderer, style_seed=1)
    assert out.shape == vol.shape
    assert not out[0].any() and not out[2].any()
    assert out[1].std() > 0 and out[3].std() > 0
    np.testing.assert_allclose(out[1], renderer.render(vol[1], style_seed=1), atol=1e-6)


def test_bad_label_maps_are_refused_with_the_reason(renderer):
    with pytest.raises(ValueError, match="classes 0-6"):
        renderer.render(np.full((20, 20), 9))
    with pytest.raises(ValueError, match="2-D"):
        renderer.render(np.zeros((2, 20, 20), int))
    with pytest.raises(ValueError, match="fractional"):
        renderer.render(np.full((20, 20), 0.5))
    with pytest.raises(ValueError, match="3-D"):
        render_volume(np.zeros((20, 20), int), renderer)


def test_checkpoints_of_other_recipes_are_refused(tmp_path):
    from train_helpers import make_dataset

    from napari_medsynth.train import Trainer, TrainSettings

    data = make_dataset(tmp_path / "d")
    done = Trainer("dcgan", TrainSettings(str(data), str(tmp_path / "o"), steps=1, preview_every=0, device="cpu"),
                   overrides={"width": 8, "batch_size": 4, "z_dim": 16, "preview_count": 4}).run()
    with pytest.raises(CheckpointError, match="recipe 'dcgan'"):
        SpadeRenderer.load(done.checkpoint)
    with pytest.raises(FileNotFoundError):
        SpadeRenderer.load(tmp_path / "missing.pt")


def test_cli_renders_one_or_every_sequence_on_the_input_grid(four_checkpoint, tmp_path, capsys):
    import nibabel as nib

    from napari_medsynth.cli import main

    lab = np.stack([brain_map(60, 50), np.zeros((60, 50), np.uint8), brain_map(60, 50)]).transpose(1, 2, 0)
    affine = np.diag([0.9, 0.9, 2.5, 1.0])
    affine[:3, 3] = (-20, 5, 7)
    src = tmp_path / "map_labels7.nii.gz"
    nib.save(nib.Nifti1Image(lab.astype(np.uint8), affine), src)
    out = tmp_path / "synth.nii.gz"
    assert main(["spade", "render", str(src), "--out", str(out), "--checkpoint", str(four_checkpoint),
                 "--modality", "all", "--style-seed", "4", "--threads", "1", "--quiet"]) == 0
    written = {m: nib.load(tmp_path / f"synth_{m}.nii.gz") for m in ("t1", "t1ce", "t2", "flair")}
    for img in written.values():
        np.testing.assert_allclose(img.affine, affine, atol=1e-5)
        assert img.shape == lab.shape
        assert not np.asarray(img.dataobj)[:, :, 1].any()  # the empty slice stays 0
    assert not out.exists()
    assert main(["spade", "render", str(src), "--out", str(out), "--checkpoint", str(four_checkpoint),
                 "--modality", "t2", "--style-seed", "4", "--threads", "1", "--quiet"]) == 0
    np.testing.assert_allclose(np.asarray(nib.load(out).dataobj), np.asarray(written["t2"].dataobj), atol=1e-6)
    assert "at the label map's own resolution" in capsys.readouterr().out


def test_cli_refuses_a_sequence_the_model_lacks(tiny_checkpoint, tmp_path, capsys):
    import nibabel as nib

    from napari_medsynth.cli import main

    src = tmp_path / "map.nii.gz"
    nib.save(nib.Nifti1Image(brain_map(40, 40)[:, :, None].astype(np.uint8), np.eye(4)), src)
    assert main(["spade", "render", str(src), "--out", str(tmp_path / "o.nii.gz"), "--checkpoint",
                 str(tiny_checkpoint), "--modality", "flair", "--quiet"]) == 2
    assert "renders t1ce, not 'flair'" in capsys.readouterr().err
    assert not (tmp_path / "o.nii.gz").exists()
