"""The StyleGAN2 explorer panel, driven by qtbot on a tiny trained checkpoint: load, grid, edit
along a latent direction, style mixing, interpolation, save with a sidecar that redraws it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_medsynth.train import Trainer, TrainSettings
from napari_medsynth.train.checkpoint import latest_checkpoint

LEFT = Qt.MouseButton.LeftButton
TINY = {"image_size": 16, "batch_size": 4, "z_dim": 16, "w_dim": 16, "channel_base": 256, "channel_max": 16,
        "mapping_layers": 2, "preview_count": 4, "min_tumor_px": 1}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from tests.pggan_helpers import make_small_case

    data = make_small_case(tmp_path_factory.mktemp("sg2x"))
    out = tmp_path_factory.mktemp("sg2xrun")
    Trainer("stylegan2", TrainSettings(str(data), str(out), steps=4, checkpoint_every=4, preview_every=0,
                                       device="cpu", seed=1), TINY).run()
    return latest_checkpoint(out)


def _wait(qtbot, w):
    qtbot.waitUntil(lambda: not w.runner.running, timeout=60_000)


def test_explorer_samples_edits_interpolates_and_saves(make_napari_viewer, qtbot, checkpoint, tmp_path):
    from napari_medsynth.stylegan2.explore import Edit, principal_directions, render
    from napari_medsynth.stylegan2.sample import StyleGAN2Sampler
    from napari_medsynth.widgets.stylegan2_explorer import EDIT_LAYER, GRID_LAYER, PATH_LAYER, StyleGAN2ExplorerWidget

    viewer = make_napari_viewer()
    w = StyleGAN2ExplorerWidget(viewer)
    assert not w.grid_button.isEnabled()          # nothing to sample before a generator is loaded
    w.checkpoint.value = str(checkpoint)
    _wait(qtbot, w)
    assert w.sampler is not None and [w.cls.itemText(i) for i in range(w.cls.count())] == ["non-tumor", "tumor"]
    assert w.grid_button.isEnabled() and "Generator" in w.status.text()

    w.first_seed.setValue(10)
    qtbot.mouseClick(w.grid_button, LEFT)
    _wait(qtbot, w)
    grid = viewer.layers[GRID_LAYER].data
    assert grid.shape[0] > 4 * 16 and grid.shape[1] > 4 * 16   # 4 x 4 tiles of 16 px with gaps

    w.pick.setValue(3)               # seed 13
    _wait(qtbot, w)
    plain = viewer.layers[EDIT_LAYER].data.copy()
    np.testing.assert_allclose(plain, render(w.sampler, Edit(13, w.cls.currentText(), 0.7)), atol=1e-6)
    w.steps[0].setValue(3.0)
    _wait(qtbot, w)
    moved = viewer.layers[EDIT_LAYER].data.copy()
    assert not np.allclose(moved, plain)     # the first principal direction changes the image

    qtbot.mouseClick(w.path_button, LEFT)
    _wait(qtbot, w)
    assert viewer.layers[PATH_LAYER].data.shape[1] >= 8 * 16 and viewer.layers[PATH_LAYER].visible
    assert not viewer.layers[GRID_LAYER].visible

    w.save_dir.value = str(tmp_path / "saved")
    qtbot.mouseClick(w.save_button, LEFT)
    _wait(qtbot, w)
    files = sorted((tmp_path / "saved").glob("*.npy"))
    assert len(files) == 1 and "Saved" in w.status.text()
    side = json.loads(files[0].with_suffix(".json").read_text())
    assert side["seed"] == 13 and side["steps"][0] == 3.0 and side["checkpoint_sha256"] == w.sampler.sha256
    # the sidecar redraws the saved image
    s = StyleGAN2Sampler.load(side["checkpoint"])
    d = principal_directions(s, k=4, cls=side["cls"])
    again = render(s, Edit(side["seed"], side["cls"], side["truncation"], tuple(side["steps"]), side["mix_seed"],
                           side["mix_from"]), d)
    np.testing.assert_allclose(np.load(files[0]), again, atol=1e-6)


def test_explorer_says_why_a_checkpoint_does_not_load(make_napari_viewer, qtbot, tmp_path):
    from napari_medsynth.widgets.stylegan2_explorer import StyleGAN2ExplorerWidget

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    w = StyleGAN2ExplorerWidget(make_napari_viewer())
    w.checkpoint.value = str(bad)
    _wait(qtbot, w)
    assert w.sampler is None and "Failed" in w.status.text() and not w.grid_button.isEnabled()
