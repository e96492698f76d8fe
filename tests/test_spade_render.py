"""SpadeRenderer / render_volume: the API the Label->MR widget and the CLI use."""

from __future__ import annotations

import numpy as np
import pytest
from spade_helpers import make_paired_cases, train_tiny_spade

from napari_medsynth.spade import SpadeRenderer, padded_side, render_volume
from napari_medsynth.train.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("spade")
    return train_tiny_spade(make_paired_cases(root / "data"), root / "out")


@pytest.fixture(scope="module")
def renderer(tiny_checkpoint):
    return SpadeRenderer.load(tiny_checkpoint)


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


@pytest.mark.parametrize("shape", [(240, 240), (100, 60), (16, 16), (256, 256)])
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


def test_padding_follows_the_training_geometry():
    assert padded_side(240, 240) == 256  # BraTS slices, as the paper padded them
    assert padded_side(128, 128) == 128  # already a full field of view
    assert padded_side(155, 240) == 256


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
