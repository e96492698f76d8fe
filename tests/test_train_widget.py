"""The Train panel drives the engine from napari without blocking it."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt
from test_result_views import assert_zoomed_result, visible_names
from train_helpers import TINY, make_dataset

from napari_medsynth.train import Trainer, latest_checkpoint, load_checkpoint
from napari_medsynth.widgets.train import PREVIEW_LAYER, TrainWidget

LEFT = Qt.MouseButton.LeftButton


def _tiny_trainer(recipe, settings, overrides):
    """What the panel builds, with the tiny network so that steps take milliseconds."""
    return Trainer(recipe, settings, {**TINY, **overrides})


@pytest.fixture
def panel(make_napari_viewer, tmp_path, monkeypatch):
    monkeypatch.setattr("napari_medsynth.widgets.train.Trainer", _tiny_trainer)
    viewer = make_napari_viewer()
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    widget.recipe.value = "dcgan"  # the image-folder GAN that the tiny settings fit
    widget.data_dir.value = make_dataset(tmp_path / "data")
    widget.out_dir.value = tmp_path / "out"
    widget.batch_size.value = TINY["batch_size"]
    widget.preview_every.value = 2
    widget.device.value = "cpu"
    yield viewer, widget
    if widget.run is not None:
        widget.run.stop(wait=60)


def test_start_shows_progress_plot_and_preview_then_stop_saves(panel, qtbot, tmp_path):
    viewer, w = panel
    viewer.add_image(np.zeros((20, 240, 240), np.float32), name="scan")  # a 3-D case open
    w.steps.value = 100_000
    w.checkpoint_every.value = 100_000
    qtbot.mouseClick(w.start_button, LEFT)
    assert not w.start_button.isEnabled() and w.stop_button.isEnabled() and not w.form.enabled
    assert_zoomed_result(viewer, [PREVIEW_LAYER])  # in its own view from Start on, not over the scan's corner
    qtbot.waitUntil(lambda: w.progress.value() >= 3, timeout=60_000)
    qtbot.waitUntil(lambda: "medsynth_training_step" in viewer.layers[PREVIEW_LAYER].metadata, timeout=30_000)
    layer = viewer.layers[PREVIEW_LAYER]
    assert layer.data.ndim == 2 and layer.data.shape[0] > 32  # a grid of 32x32 previews
    assert_zoomed_result(viewer, [PREVIEW_LAYER])
    first = layer.metadata["medsynth_training_step"]
    qtbot.mouseClick(w.back_button, LEFT)
    assert visible_names(viewer) == {"scan"}
    qtbot.waitUntil(lambda: layer.metadata["medsynth_training_step"] > first, timeout=30_000)  # it updates
    assert visible_names(viewer) == {"scan"}  # without taking the scan away again
    assert set(w._curves) == {"loss_d", "loss_g", "d_real", "d_fake"}
    assert len(w._curves["loss_g"].getData()[0]) >= 3
    assert "steps/s" in w.status.text() or "checkpoint" in w.status.text().lower()

    qtbot.mouseClick(w.stop_button, LEFT)
    qtbot.waitUntil(lambda: w.start_button.isEnabled(), timeout=60_000)
    assert "Training stopped at step" in w.status.text()
    ckpt = latest_checkpoint(tmp_path / "out")
    assert ckpt is not None and load_checkpoint(ckpt)["step"] == w.run.trainer.result.step >= 3
    assert str(ckpt) in w.status.text()


def test_pause_and_resume_buttons(panel, qtbot):
    viewer, w = panel
    w.steps.value = 100_000
    qtbot.mouseClick(w.start_button, LEFT)
    qtbot.waitUntil(lambda: w.progress.value() >= 1, timeout=60_000)
    qtbot.mouseClick(w.pause_button, LEFT)
    assert w.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: w.status.text().startswith("Paused before step"), timeout=30_000)
    held = w.progress.value()
    qtbot.wait(300)
    assert w.progress.value() == held
    qtbot.mouseClick(w.pause_button, LEFT)
    assert w.pause_button.text() == "Pause"
    qtbot.waitUntil(lambda: w.progress.value() > held, timeout=30_000)
    qtbot.mouseClick(w.stop_button, LEFT)
    qtbot.waitUntil(lambda: w.start_button.isEnabled(), timeout=60_000)


def test_bad_folder_is_a_message_not_a_crash(panel, qtbot, tmp_path):
    viewer, w = panel
    (tmp_path / "empty").mkdir()
    w.data_dir.value = tmp_path / "empty"
    qtbot.mouseClick(w.start_button, LEFT)
    qtbot.waitUntil(lambda: w.start_button.isEnabled(), timeout=60_000)
    assert w.status.text().startswith("Training failed: no training images")
    w.data_dir.value = None
    qtbot.mouseClick(w.start_button, LEFT)
    assert "Choose a dataset folder" in w.status.text()


def test_closing_the_viewer_stops_training_and_saves(panel, qtbot, tmp_path):
    viewer, w = panel
    w.steps.value = 100_000
    w.checkpoint_every.value = 100_000
    qtbot.mouseClick(w.start_button, LEFT)
    qtbot.waitUntil(lambda: w.progress.value() >= 2, timeout=60_000)
    run = w.run
    viewer.close()
    qtbot.waitUntil(lambda: not run.running, timeout=60_000)
    assert run.trainer.result.reason == "stopped"
    assert load_checkpoint(latest_checkpoint(tmp_path / "out"))["step"] == run.trainer.result.step >= 2


def test_train_panel_is_in_the_plugin_manifest(make_napari_viewer, open_panel):
    viewer = make_napari_viewer()
    widget = open_panel(viewer, "Train")
    assert isinstance(widget, TrainWidget)
    assert {"dcgan", "sage-lmsgan", "spade", "pggan-labels", "c2st"} <= set(widget.recipe.choices)
    from napari_medsynth.train import get_recipe

    for name in ("spade", "dcgan"):
        widget.recipe.value = name
        assert widget.batch_size.value == get_recipe(name).config_class().batch_size  # each recipe's default
    assert widget.batch_size.value == 16


def test_panel_exposes_every_recipe_setting_and_sets_them_as_the_cli_does(make_napari_viewer, tmp_path, monkeypatch):
    """Each recipe's config fields appear in the panel; a value entered there reaches the recipe's
    config exactly as ``napari-medsynth train --set KEY=VALUE`` gets it there."""
    import dataclasses

    from napari_medsynth.cli.train import parse_settings
    from napari_medsynth.train import get_recipe, list_recipes
    from napari_medsynth.train.recipe import config_from_dict
    from napari_medsynth.train.settings import TrainSettings

    made = []
    monkeypatch.setattr("napari_medsynth.widgets.train.Trainer",
                        lambda recipe, settings, overrides: made.append((recipe, settings, overrides)) or
                        Trainer(recipe, settings, overrides))
    monkeypatch.setattr("napari_medsynth.widgets.train.JobRunner.start", lambda self, job: job)
    viewer = make_napari_viewer()
    w = TrainWidget(viewer)
    defaults = TrainSettings(data_dir="", out_dir="")
    assert (w.steps.value, w.preview_every.value, w.checkpoint_every.value, w.keep.value) == \
        (defaults.steps, defaults.preview_every, defaults.checkpoint_every, defaults.keep_checkpoints)
    assert list(w.recipe.choices)[0] == "sage-lmsgan" and w.recipe_info.text()  # generators first, described
    w.data_dir.value, w.out_dir.value = make_dataset(tmp_path / "data"), tmp_path / "out"
    w.preview_every.value = 0

    typed = {"spade": ["channels=32,32,16", "lambda_kld=0.125", "tissues=intensity", "z_dim=7"],
             "sage-lmsgan": ["lr=0.00025", "augment=false", "patients=A,B", "hidden=48"],
             "pggan-labels": ["mirror=false", "stable_kimg=2.5", "image_size=32"],
             "classifier": ["augment=classic", "weight_decay=1e-05", "n_classes=3"]}
    for name in list_recipes():
        w.recipe.value = name
        cls = get_recipe(name).config_class
        assert set(w.settings_form.widgets) == {f.name for f in dataclasses.fields(cls)}, name
        for pair in typed.get(name, []):
            key, value = pair.split("=")
            widget = w.settings_form.widgets[key]
            widget.value = {"false": False, "true": True}.get(value, int(value) if widget.widget_type == "SpinBox"
                                                             else value)
        w.start()
        recipe, _, overrides = made[-1]
        assert recipe == name
        cli = config_from_dict(cls, parse_settings(typed.get(name, [])))
        assert config_from_dict(cls, overrides) == cli, name
        assert set(overrides) == {p.split("=")[0] for p in typed.get(name, [])}, name  # only what was changed
