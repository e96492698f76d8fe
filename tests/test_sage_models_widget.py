"""The SAGE recipes train from the Train panel like any other model."""

from __future__ import annotations

from qtpy.QtCore import Qt
from sage_helpers import make_crop_dataset

from napari_medsynth.train import Trainer, latest_checkpoint, load_checkpoint
from napari_medsynth.widgets.train import PREVIEW_LAYER, TrainWidget


def test_lmsgan_trains_from_the_train_panel(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    small = {"hidden": 32, "width": 4, "z_dim": 8, "warmup_steps": 2, "preview_count": 4}
    monkeypatch.setattr("napari_medsynth.widgets.train.Trainer",
                        lambda recipe, settings, overrides: Trainer(recipe, settings, {**small, **overrides}))
    viewer = make_napari_viewer()
    w = TrainWidget(viewer)
    viewer.window.add_dock_widget(w, name="Train")
    assert {"sage-lmsgan", "sage-dcgan", "sage-wgangp"} <= set(w.recipe.choices)
    w.recipe.value = "sage-lmsgan"
    assert w.batch_size.value == 32  # the recipe's default
    w.batch_size.value = 4
    w.data_dir.value = make_crop_dataset(tmp_path / "crops", n_patients=1, crops_per_patient=4)
    w.out_dir.value = tmp_path / "out"
    w.steps.value, w.checkpoint_every.value, w.preview_every.value = 8, 100, 4
    w.device.value = "cpu"
    qtbot.mouseClick(w.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.start_button.isEnabled(), timeout=60_000)
    assert "error" not in w.status.text().lower(), w.status.text()
    assert viewer.layers[PREVIEW_LAYER].data.shape[0] > 64  # a grid of 64x64 shape previews
    assert {"loss_mse", "loss_d", "loss_g"} <= set(w._curves)
    assert load_checkpoint(latest_checkpoint(tmp_path / "out"))["step"] == 8
