"""The Label → MR panel, driven as a person would, with small SPADE and PGGAN models trained here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from qtpy.QtCore import Qt
from test_result_views import assert_zoomed_result, visible_names

from napari_medsynth._sample_data import sample_case_dir
from napari_medsynth.pggan.sample import LabelMapSampler
from napari_medsynth.spade.label_maps import map_from_volume, template_map
from napari_medsynth.spade.render import SpadeRenderer
from napari_medsynth.train import Trainer, TrainSettings, latest_checkpoint
from napari_medsynth.widgets._l2m_controls import NO_SHIPPED, SHIPPED
from napari_medsynth.widgets._pair_layers import GAP, LABEL_LAYER, MR_LAYER, STYLES_LAYER

LEFT = Qt.MouseButton.LeftButton
ONE_CASE = sample_case_dir("MSYN-001")
#: Small enough to train in seconds on a CPU; the panel does not care how good the model is.
TINY_SPADE = {"image_size": 32, "batch_size": 2, "channels": "16,8,8", "modalities": "t1ce", "spade_hidden": 8,
              "z_dim": 4, "d_channels": 8, "num_d": 1, "d_layers": 1, "preview_count": 2}
TINY_PGGAN = {"image_size": 16, "batch_size": 4, "z_dim": 8, "width": 4, "max_width": 8, "stable_kimg": 0.008,
              "fade_kimg": 0.008, "preview_count": 4, "ema_kimg": 0.01}


def _train(recipe: str, out: Path, overrides: dict, steps: int) -> Path:
    torch.set_num_threads(1)
    settings = TrainSettings(str(ONE_CASE), str(out), steps=steps, checkpoint_every=steps, preview_every=0,
                             device="cpu", seed=3)
    Trainer(recipe, settings, overrides).run()
    return latest_checkpoint(out)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"spade": _train("spade", root / "spade", TINY_SPADE, 4),
            "pggan": _train("pggan-labels", root / "pggan", TINY_PGGAN, 12)}


@pytest.fixture
def panel(make_napari_viewer, qtbot, checkpoints, open_panel):
    viewer = make_napari_viewer()
    # docked through the plugin, as users get it (napari hands the panel a proxy viewer)
    widget = open_panel(viewer, "Label → MR")
    widget.renderer_file.value = checkpoints["spade"]
    widget.sampler_file.value = checkpoints["pggan"]
    assert widget.renderer is not None and widget.sampler is not None, widget.status.text()
    yield viewer, widget
    if widget.live is not None:
        widget.live.close()


def _wait_rendered(qtbot, widget, timeout=30_000):
    """Until the panel has shown the MR of the map currently in the label layer."""
    qtbot.waitUntil(lambda: widget._last is not None and not widget.live.busy
                    and not widget._debounce.isActive()
                    and np.array_equal(widget._last.labels, widget.layers.labels.data), timeout=timeout)


def test_painting_rerenders_the_mr_beside_the_map(panel, qtbot, checkpoints):
    viewer, w = panel
    reference = SpadeRenderer.load(checkpoints["spade"])
    assert "sha256 " + reference.sha256[:10] in w.model_info.text()
    qtbot.mouseClick(w.blank_button, LEFT)
    _wait_rendered(qtbot, w)
    labels, mr = viewer.layers[LABEL_LAYER], viewer.layers[MR_LAYER]
    np.testing.assert_array_equal(labels.data, template_map(256))
    assert labels.mode == "paint" and viewer.layers.selection.active is labels
    assert_zoomed_result(viewer, [LABEL_LAYER, MR_LAYER])  # the pair in its own view
    # the MR sits right of the map, same scale and rows, not overlapping
    assert tuple(mr.scale) == tuple(labels.scale) == (1.0, 1.0)  # 256 px canvas at 1 mm
    assert mr.translate[0] == labels.translate[0]
    assert mr.translate[1] == pytest.approx(labels.translate[1] + 256 + GAP)
    before = mr.data.copy()
    np.testing.assert_allclose(before, reference.render(template_map(256), None), atol=1e-5)
    assert "Rendered in" in w.status.text() and "ms" in w.status.text()

    qtbot.mouseClick(w.class_buttons.button(3), LEFT)  # "ET" in the palette
    assert labels.selected_label == 3
    labels.brush_size = 30
    labels.paint((90, 90), labels.selected_label)  # what napari's brush calls on each dab
    assert (labels.data == 3).sum() > 500
    assert w._debounce.isActive()  # not rendered on the GUI thread while painting: after a pause
    np.testing.assert_array_equal(mr.data, before)
    _wait_rendered(qtbot, w)
    assert not np.allclose(mr.data, before)
    np.testing.assert_allclose(mr.data, reference.render(labels.data, None), atol=1e-5)
    assert "ET" in labels.get_status((90.0, labels.translate[1] + 90.0))["coordinates"]  # named class

    labels.undo()  # undo is an edit too
    _wait_rendered(qtbot, w)
    np.testing.assert_allclose(mr.data, before, atol=1e-5)


def test_style_seed_and_k_styles(panel, qtbot, checkpoints):
    viewer, w = panel
    reference = SpadeRenderer.load(checkpoints["spade"])
    qtbot.mouseClick(w.blank_button, LEFT)
    _wait_rendered(qtbot, w)
    mean = viewer.layers[MR_LAYER].data.copy()
    w.style_seed.setValue(5)
    _wait_rendered(qtbot, w)
    qtbot.waitUntil(lambda: w._last.seeds == (5,), timeout=30_000)
    styled = viewer.layers[MR_LAYER].data
    np.testing.assert_allclose(styled, reference.render(template_map(256), 5), atol=1e-5)
    assert not np.allclose(styled, mean)

    w.k_styles.setValue(3)
    qtbot.mouseClick(w.styles_button, LEFT)
    qtbot.waitUntil(lambda: STYLES_LAYER in viewer.layers, timeout=30_000)
    strip = viewer.layers[STYLES_LAYER]
    assert strip.metadata["style_seeds"] == [5, 6, 7] and strip.metadata["style_grid"] == [2, 2]
    # two per row, as wide as the pair above, so the view that fits them all stays large
    assert strip.data.shape == (2 * 256 + GAP, 2 * 256 + GAP)
    expected = reference.render_styles(template_map(256), [5, 6, 7])
    for i in range(3):
        r, c = divmod(i, 2)
        tile = strip.data[r * (256 + GAP):r * (256 + GAP) + 256, c * (256 + GAP):c * (256 + GAP) + 256]
        np.testing.assert_allclose(tile, expected[i], atol=1e-5)
    assert not strip.data[256 + GAP:, 256 + GAP:].any()  # no fourth style
    assert strip.translate[0] > viewer.layers[LABEL_LAYER].translate[0]  # below the pair
    assert strip.translate[1] == viewer.layers[LABEL_LAYER].translate[1]
    assert "3 styles" in w.status.text()
    assert_zoomed_result(viewer, [LABEL_LAYER, MR_LAYER, STYLES_LAYER])
    assert viewer.layers.selection.active is viewer.layers[LABEL_LAYER]  # the brush stays on the map

    qtbot.mouseClick(w.sample_button, LEFT)  # a new map: the old map's styles go
    assert STYLES_LAYER not in viewer.layers
    assert_zoomed_result(viewer, [LABEL_LAYER, MR_LAYER])


def test_sample_from_pggan_then_save_the_pair(panel, qtbot, checkpoints, tmp_path):
    viewer, w = panel
    sampler = LabelMapSampler.load(checkpoints["pggan"])
    w.sample_seed.setValue(42)
    qtbot.mouseClick(w.sample_button, LEFT)
    labels = viewer.layers[LABEL_LAYER]
    np.testing.assert_array_equal(labels.data, sampler.sample(1, 42, size=256)[0])
    assert "seed 42" in w.source_info.text()
    _wait_rendered(qtbot, w)

    w.save_dir.value = tmp_path
    w.stem.setText("SYN-0007")
    labels.paint((128, 128), 1)  # edit the sampled map, then save at once: still rendering
    qtbot.mouseClick(w.save_button, LEFT)
    assert "still being rendered" in w.status.text() and not (tmp_path / "SYN-0007").exists()
    _wait_rendered(qtbot, w)
    qtbot.mouseClick(w.save_button, LEFT)
    assert "Saved the pair" in w.status.text(), w.status.text()
    side = json.loads((tmp_path / "SYN-0007" / "SYN-0007.json").read_text())
    assert side["source"] == "pggan" and side["sampler_seed"] == 42 and side["edited"] is True
    assert side["sampler"]["sha256"] == sampler.sha256 and side["sampler"]["checkpoint"] == str(checkpoints["pggan"])
    assert side["renderer"]["sha256"] == w.renderer.sha256 and side["style_seed"] is None
    layers = viewer.open(str(tmp_path / "SYN-0007"), plugin="napari-medsynth")  # opens as a case
    saved = {layer.name: layer for layer in layers}
    np.testing.assert_array_equal(saved["SYN-0007_labels7"].data[0], labels.data)
    np.testing.assert_allclose(saved["SYN-0007_t1ce"].data[0], viewer.layers[MR_LAYER].data, atol=1e-6)
    assert w.stem.text() == "SYN-0008"  # ready for the next pair


def test_map_from_a_loaded_volume_slice(panel, qtbot):
    viewer, w = panel
    viewer.open_sample("napari-medsynth", "glioma")
    scan = visible_names(viewer)
    seg = viewer.layers["MSYN-001_seg"].data
    k = int(np.argmax((seg == 4).sum(axis=(1, 2))))
    viewer.dims.set_point(0, k)
    assert w.source_combo.currentText() == "MSYN-001_labels7"  # the complete map is preferred
    assert not w.back_button.isEnabled()
    qtbot.mouseClick(w.slice_button, LEFT)
    labels = viewer.layers[LABEL_LAYER]
    assert visible_names(viewer) == {LABEL_LAYER} and w.back_button.isEnabled()  # the map alone, in 2-D
    assert_zoomed_result(viewer, [LABEL_LAYER])
    _wait_rendered(qtbot, w)
    assert_zoomed_result(viewer, [LABEL_LAYER, MR_LAYER])
    qtbot.mouseClick(w.back_button, LEFT)  # back to the case, at the same slice, to choose another source
    assert visible_names(viewer) == scan and viewer.dims.current_step[0] == k
    complete = viewer.layers["MSYN-001_labels7"].data
    np.testing.assert_array_equal(labels.data, map_from_volume(complete, k, 256).labels)
    assert f"slice {k}" in w.source_info.text() and "no WM" not in w.source_info.text()
    # the pair is placed right of the loaded volume, not on top of it
    assert labels.translate[1] > viewer.layers["MSYN-001_t1ce"].extent.world[1][-1]

    w.source_combo.setCurrentText("MSYN-001_seg")  # a BraTS segmentation: converted, tissues missing
    qtbot.mouseClick(w.slice_button, LEFT)
    assert set(np.unique(labels.data)) <= {0, 1, 2, 3} and 3 in labels.data
    assert "BraTS labels converted" in w.source_info.text() and "no WM/GM/CSF" in w.source_info.text()
    _wait_rendered(qtbot, w)
    w.save_dir.value = None
    qtbot.mouseClick(w.save_button, LEFT)
    assert "Choose a folder" in w.status.text()


def test_opened_on_a_case_the_brush_is_on_a_visible_map_and_the_fields_say_shipped(make_napari_viewer, open_panel,
                                                                                  monkeypatch):
    import threading

    from napari_medsynth.widgets import label_to_mr

    loads = []
    for name in ("_load_renderer", "_load_sampler"):
        real = getattr(label_to_mr, name)
        monkeypatch.setattr(label_to_mr, name, lambda path, real=real, name=name: (
            loads.append((name, threading.current_thread() is threading.main_thread())), real(path))[1])
    viewer = make_napari_viewer()
    viewer.open_sample("napari-medsynth", "glioma")
    viewer.layers.selection.active = viewer.layers["MSYN-001_labels7"]  # hidden; what the case open leaves
    w = open_panel(viewer, "Label → MR")
    assert viewer.layers.selection.active is viewer.layers["MSYN-001_seg"] and viewer.layers["MSYN-001_seg"].visible
    assert w.renderer is not None and w.sampler is not None  # the shipped models
    for field in (w.renderer_file, w.sampler_file):
        assert field.value is None and field.line_edit.native.placeholderText() == SHIPPED
    # both shipped models were read once, off the GUI thread, while the panel said "Loading"
    assert sorted(loads) == [("_load_renderer", False), ("_load_sampler", False)]
    if w.live is not None:
        w.live.close()


def test_missing_or_broken_checkpoint_is_a_message_and_controls_are_disabled(make_napari_viewer, tmp_path,
                                                                            monkeypatch, open_panel):
    viewer = make_napari_viewer()
    w = open_panel(viewer, "Label → MR")
    broken = tmp_path / "spade.pt"
    broken.write_bytes(b"not a checkpoint")
    w.renderer_file.value = broken
    assert w.renderer is None and w.live is None
    assert w.status.text().startswith("No renderer:") and "Train" in w.status.text()
    for control in (w.blank_button, w.sample_button, w.slice_button, w.styles_button, w.save_button,
                    w.style_seed):
        assert not control.isEnabled()
    w.new_blank_map()  # even if reached, nothing breaks
    assert LABEL_LAYER not in viewer.layers
    w.sampler_file.value = tmp_path / "missing.pt"
    assert w.sampler is None and "Label sampler: none" in w.model_info.text()

    def no_shipped(path):
        raise FileNotFoundError("no shipped renderer")

    monkeypatch.setattr("napari_medsynth.widgets.label_to_mr._load_renderer", no_shipped)
    w.renderer_file.value = None  # empty, and nothing shipped to fall back on: the field says so
    assert w.renderer_file.line_edit.native.placeholderText() == NO_SHIPPED


def test_four_sequences_one_render_switch_without_rendering_and_save_all(make_napari_viewer, qtbot, open_panel,
                                                                         tmp_path):
    from spade_helpers import make_paired_cases, train_tiny_spade

    from napari_medsynth.widgets.label_to_mr import tile_sequences

    data = make_paired_cases(tmp_path / "data", modalities=("t1", "t1ce", "t2", "flair"))
    ckpt = train_tiny_spade(data, tmp_path / "run", modalities="t1,t1ce,t2,flair")
    reference = SpadeRenderer.load(ckpt)
    viewer = make_napari_viewer()
    w = open_panel(viewer, "Label → MR")
    w.renderer_file.value = ckpt
    assert [w.sequence.itemText(i) for i in range(w.sequence.count())] == [
        "T1", "T1-Gd", "T2", "FLAIR", "All 4 (one patient)"]
    assert w.sequence.currentText() == "T1-Gd" and "T1/T1-Gd/T2/FLAIR" in w.model_info.text()
    qtbot.mouseClick(w.blank_button, LEFT)
    _wait_rendered(qtbot, w)
    every = reference.render_all(template_map(256), None)
    mr = viewer.layers[MR_LAYER]
    np.testing.assert_allclose(mr.data, every[1], atol=1e-5)
    renders = w._last.request_id
    w.sequence.setCurrentIndex(3)  # FLAIR: shown from the same render
    np.testing.assert_allclose(viewer.layers[MR_LAYER].data, every[3], atol=1e-5)
    w.sequence.setCurrentIndex(4)  # all four, two per row
    grid = viewer.layers[MR_LAYER].data
    assert grid.shape == (2 * 256 + GAP, 2 * 256 + GAP)
    np.testing.assert_allclose(grid, tile_sequences(every, GAP), atol=1e-5)
    assert w._last.request_id == renders and not w.live.busy  # no new render for a switch
    w.save_dir.value = tmp_path / "pairs"
    w.stem.setText("SYN-0100")
    qtbot.mouseClick(w.save_button, LEFT)
    saved = sorted(p.name for p in (tmp_path / "pairs" / "SYN-0100").iterdir())
    assert saved == ["SYN-0100.json", "SYN-0100_flair.nii.gz", "SYN-0100_labels7.nii.gz", "SYN-0100_t1.nii.gz",
                     "SYN-0100_t1ce.nii.gz", "SYN-0100_t2.nii.gz"], w.status.text()
    w.live.close()
