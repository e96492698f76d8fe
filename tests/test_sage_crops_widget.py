"""Tumor crops panel: new labels, seed clicks that grow one undoable edit, background extraction."""

from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_medsynth._reader import volume_to_layer_data
from napari_medsynth.io import read_volume
from napari_medsynth.sage.dataset import CropDataset
from napari_medsynth.widgets.crops import TumorCropsWidget

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"
LEFT = Qt.MouseButton.LeftButton


class FakeMouse:
    """The attributes napari's mouse callbacks read."""

    def __init__(self, position):
        self.position, self.button, self.modifiers, self.type = tuple(position), 1, (), "mouse_press"


def click(viewer, position):
    """Press and release at a world position through the viewer's mouse callbacks."""
    event = FakeMouse(position)
    gens = [cb(viewer, event) for cb in viewer.mouse_drag_callbacks]
    gens = [g for g in gens if g is not None]
    for g in gens:
        next(g, None)
    event.type = "mouse_release"
    for g in gens:
        next(g, None)


@pytest.fixture
def panel(make_napari_viewer):
    viewer = make_napari_viewer()
    data, meta, _ = volume_to_layer_data(read_volume(SAMPLES / "MSYN-001" / "MSYN-001_t1ce.nii.gz"))
    viewer.add_image(data, **meta)
    widget = TumorCropsWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Tumor crops")
    seg = read_volume(SAMPLES / "MSYN-001" / "MSYN-001_seg.nii.gz").data
    return viewer, widget, seg


def test_new_labels_then_seed_clicks_grow_undoable_regions(panel, qtbot):
    viewer, w, seg = panel
    assert w.image_combo.currentText() == "MSYN-001_t1ce" and w.patient.text() == "MSYN-001"
    qtbot.mouseClick(w.new_labels_button, LEFT)
    labels = w.labels_layer()
    assert labels is not None and labels.data.shape == seg.shape and not labels.data.any()
    assert w.labels_combo.currentText() == labels.name and labels.mode == "paint"
    enh = np.argwhere(seg == 4)
    seed = enh[np.argmin(((enh - enh.mean(0)) ** 2).sum(1))]
    click(viewer, seed)  # seed mode off: a click does nothing
    assert not labels.data.any()
    w.seed_mode.setChecked(True)
    w.tolerance.setValue(15)
    click(viewer, seed)
    grown = labels.data > 0
    z = seed[0]
    assert grown[z].sum() > 200 and not np.delete(grown, z, axis=0).any()
    assert (grown & (seg > 0)).sum() > 0.7 * grown.sum()
    seeds = next(l for l in viewer.layers if l.name == "MSYN-001_t1ce seeds")
    np.testing.assert_array_equal(seeds.data, [seed])
    # moving the tolerance redoes the last grow instead of stacking edits
    w.tolerance.setValue(30)
    assert w.tolerance_label.text() == "30 %"
    wider = labels.data > 0
    assert wider.sum() > grown.sum()
    labels.undo()
    assert not labels.data.any()  # one edit, one undo
    # 3-D growing crosses slices; the radius bounds it
    w.grow_3d.setCurrentIndex(1)
    w.radius.setValue(10)
    w.tolerance.setValue(15)
    w.grow_at(seed)
    zs = np.flatnonzero(labels.data.any(axis=(1, 2)))
    assert len(zs) > 3 and zs.min() >= z - 10 and zs.max() <= z + 10


def test_add_to_dataset_runs_in_background_and_shows_the_dataset(panel, qtbot, tmp_path):
    viewer, w, seg = panel
    qtbot.mouseClick(w.add_button, LEFT)
    assert "dataset folder" in w.status.text()
    w.dataset_dir.value = tmp_path / "ds"
    qtbot.mouseClick(w.new_labels_button, LEFT)
    qtbot.mouseClick(w.add_button, LEFT)  # nothing painted yet
    qtbot.waitUntil(lambda: not w.busy and w.add_button.isEnabled(), timeout=30000)
    assert "no tumor voxels" in w.status.text() and not (tmp_path / "ds").exists()
    w.labels_layer().data_setitem(np.nonzero(seg), 1)  # as if painted
    w.klass.setText("mutated")
    w.crop_size.setValue(32)
    w.phi_size.setValue(64)
    w.min_size.setValue(100)
    qtbot.mouseClick(w.add_button, LEFT)
    assert not w.add_button.isEnabled()
    qtbot.waitUntil(lambda: not w.busy and w.add_button.isEnabled(), timeout=60000)
    assert w.progress.value() == 100, w.status.text()
    ds = CropDataset.load(tmp_path / "ds")
    assert ds.patient_ids() == ["MSYN-001"] and ds.tc.shape[1:] == (32, 32) and ds.phi.shape[1:] == (64, 64)
    assert {r.klass for r in ds.crops} == {"mutated"} and min(r.area_px for r in ds.crops) >= 100
    assert ds.patients["MSYN-001"]["image"].endswith("MSYN-001_t1ce.nii.gz")
    assert f"1 patient (mutated), {len(ds)} tumor crops, {len(ds.phi)} tumor-free slices" in w.counts.text()
    shown = [t for t in w.thumbs if t.pixmap() is not None and not t.pixmap().isNull()]
    assert len(shown) == len(w.thumbs)
    assert "MSYN-001" in w.status.text() and f"{len(ds)} tumor crops" in w.status.text()
    # the same patient again: refused unless replaced
    qtbot.mouseClick(w.add_button, LEFT)
    qtbot.waitUntil(lambda: not w.busy and w.add_button.isEnabled(), timeout=30000)
    assert "already in" in w.status.text()
    # a tumor-free volume: no labels layer chosen, PHI only, another patient id
    viewer.layers.remove(w.labels_layer())
    assert w.labels_combo.currentText() == ""
    w.patient.setText("MSYN-001-free")
    w.klass.setText("")
    qtbot.mouseClick(w.add_button, LEFT)
    qtbot.waitUntil(lambda: not w.busy and w.add_button.isEnabled(), timeout=60000)
    ds = CropDataset.load(tmp_path / "ds")
    assert ds.patients["MSYN-001-free"]["class"] == "healthy" and ds.patients["MSYN-001-free"]["n_crops"] == 0
    assert "2 patients" in w.counts.text()
