"""The SAGE studio panel, driven through its controls as a radiologist would use it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qtpy.QtCore import Qt
from sage_studio_helpers import STEPS, make_shape_checkpoint, make_small_dataset
from test_result_views import assert_zoomed_result, visible_names

from napari_medsynth._sample_data import sample_case_dir
from napari_medsynth.sage.samples import regenerate
from napari_medsynth.sage.shapes import ShapeModel
from napari_medsynth.widgets._clean_layout import camera_of
from napari_medsynth.widgets._l2m_controls import SHIPPED
from napari_medsynth.widgets._sage_controls import typical_phi_index
from napari_medsynth.widgets.sage_studio import LABEL_LAYER, OUTLINE, POINTS_LAYER, RESULT_LAYER, SLICE_LAYER

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("studio")
    data = make_small_dataset(root / "data", root / "work")
    return data, make_shape_checkpoint(data, root / "ckpt") / "sage-lmsgan.pt"


@pytest.fixture
def studio(make_napari_viewer, files, qtbot, open_panel):
    data, ckpt = files
    viewer = make_napari_viewer(show=True)
    w = open_panel(viewer, "SAGE studio")  # as users get it: a proxy viewer
    w.shape_ckpt.value = ckpt
    w.dataset_dir.value = data
    w.texture_steps.setValue(STEPS)
    yield viewer, w
    if w.job is not None:
        w.job.stop()
        qtbot.waitUntil(lambda: not w.job.running, timeout=120_000)


def test_a_folder_that_is_no_dataset_is_a_message(make_napari_viewer, tmp_path, open_panel):
    viewer = make_napari_viewer()
    w = open_panel(viewer, "SAGE studio")
    assert not w.generate_button.isEnabled() and "Choose a tumor-crop dataset" in w.dataset_info.text()
    w.dataset_dir.value = tmp_path
    assert "is not a tumor-crop dataset" in w.status.text()
    assert not w.generate_button.isEnabled() and not w.generate_n_button.isEnabled()


def test_works_after_install_with_the_sample_cases_and_shipped_model(make_napari_viewer, qtbot, tmp_path,
                                                                      monkeypatch, open_panel):
    """No dataset, no checkpoint chosen: one click crops the sample cases, the shipped shape model draws."""
    monkeypatch.setenv("NAPARI_MEDSYNTH_CACHE", str(tmp_path / "cache"))
    viewer = make_napari_viewer()
    w = open_panel(viewer, "SAGE studio")
    assert w.shape_ckpt.value in (None, "") or str(w.shape_ckpt.value) in ("", ".")
    qtbot.mouseClick(w.sample_button, LEFT)
    assert not w.sample_button.isEnabled()  # cropping runs in the background
    qtbot.waitUntil(lambda: w.dataset is not None and w.sample_button.isEnabled(), timeout=300_000)
    assert (tmp_path / "cache" / "sample_crops" / "manifest.json").is_file()
    assert set(w.dataset.patients) >= {"MSYN-001", "MSYN-H01"} and len(w.dataset) > 100
    assert w.generator.shape_model.sha256 == ShapeModel.load().sha256  # the shipped model
    assert w.preview_btc.any() and w.generate_button.isEnabled()


def test_loading_fills_controls_from_the_dataset(studio, files):
    from napari_medsynth.sage.dataset import CropDataset

    viewer, w = studio
    ds = CropDataset.load(files[0])
    assert w.thumbs.count() == len(ds) and w.real_index.maximum() == len(ds) - 1
    assert w.phi_index.maximum() == len(ds.phi) - 1
    assert f"{len(ds)} tumor crops (control, mutated)" in w.dataset_info.text()
    assert w.size.value() == round(ds.attribute_ranges()["size_rel"]["mean"] * 1000)
    assert w.generate_button.isEnabled()
    assert w.phi_index.value() == typical_phi_index(ds) > 0  # not slice #0, the posterior fossa
    assert w.shape_ckpt.line_edit.native.placeholderText() == SHIPPED


class _Records:
    """What :func:`typical_phi_index` reads of a crop dataset."""

    def __init__(self, slices: dict[str, list[int]], area):
        from napari_medsynth.sage.dataset import PhiRecord

        self.phi_records = [PhiRecord(p, z) for p, zs in slices.items() for z in zs]
        self.phi_mask = [np.ones(int(area(r.slice)), np.uint8) for r in self.phi_records]


def test_the_default_slice_is_a_typical_supratentorial_one():
    """Of the patient with the most tumor-free slices, a large slice 60 % of the way up (slice 25-130:
    the brain is largest around 75; #0 is the posterior fossa)."""
    area = lambda z: 20_000 - 6 * (z - 75) ** 2  # noqa: E731
    ds = _Records({"tumor case": [30, 31, 120], "healthy": list(range(25, 131))}, area)
    k = typical_phi_index(ds)
    assert ds.phi_records[k].patient == "healthy" and ds.phi_records[k].slice == 88
    assert area(88) >= 0.9 * area(75)
    assert typical_phi_index(_Records({}, area)) == 0


def test_shape_modes_show_their_shape(studio, files, qtbot):
    viewer, w = studio
    model = ShapeModel.load(files[1])
    w.shape_seed.setValue(11)
    np.testing.assert_array_equal(w.preview_btc, model.sample(11))
    w.shape_seed.setValue(12)
    np.testing.assert_array_equal(w.preview_btc, model.sample(12))
    qtbot.mouseClick(w.mode_real, LEFT)
    w.real_index.setValue(3)
    np.testing.assert_array_equal(w.preview_btc, w.dataset.btc[3].astype(bool))
    qtbot.mouseClick(w.mode_interp, LEFT)
    w.interp_a.setValue(1)
    w.interp_b.setValue(4)
    w.interp_t.setValue(25)
    np.testing.assert_array_equal(w.preview_btc, model.interpolate(w.dataset.btc[1], w.dataset.btc[4], 0.25))
    assert not w.shape_preview.pixmap().isNull()
    # a damaged checkpoint is a message, the viewer goes on
    bad = files[1].parent / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    qtbot.mouseClick(w.mode_noise, LEFT)
    w.shape_ckpt.value = bad
    assert w.status.text().startswith("Shape: broken.pt:") and w.shape_preview.text() == "no shape"


def test_click_a_location_pick_a_texture_and_generate(studio, qtbot):
    viewer, w = studio
    viewer.add_image(np.random.default_rng(1).random((30, 240, 240), np.float32), name="scan")  # a 3-D case
    viewer.dims.set_current_step(0, 12)
    camera_of(viewer).zoom = 0.5
    k = int(np.argmax(w.dataset.phi_mask.sum(axis=(1, 2))))
    w.phi_index.setValue(k)
    assert not w.back_button.isEnabled()
    qtbot.mouseClick(w.show_slice, LEFT)
    assert SLICE_LAYER in viewer.layers and viewer.layers[POINTS_LAYER].mode == "add"
    assert viewer.layers.selection.active is viewer.layers[POINTS_LAYER]
    assert_zoomed_result(viewer, [SLICE_LAYER, POINTS_LAYER])  # the slice to click on, in its own view
    assert not w.location_random.isChecked()
    qtbot.mouseClick(w.generate_button, LEFT)  # no click on the slice yet
    assert "click a location on the slice first" in w.status.text()
    brain = w.dataset.phi_mask[k].astype(bool)
    rows, cols = np.nonzero(brain)
    point = (float(rows.mean()), float(cols.mean()))
    viewer.layers[POINTS_LAYER].add([point])
    item = w.thumbs.item(2)
    w.thumbs.scrollToItem(item)
    qtbot.mouseClick(w.thumbs.viewport(), LEFT, pos=w.thumbs.visualItemRect(item).center())
    assert w.thumbs.currentRow() == 2 and not w.texture_random.isChecked()
    w.size.setValue(25)
    w.orientation.setValue(40)
    qtbot.mouseClick(w.generate_button, LEFT)
    assert not w.generate_button.isEnabled()  # busy while TAN runs in the background
    qtbot.waitUntil(lambda: RESULT_LAYER in viewer.layers and w.generate_button.isEnabled(), timeout=120_000)
    g = w.last
    assert g.spec.texture_index == 2 and g.spec.phi.index == k
    assert g.merge.size_rel == pytest.approx(0.025, rel=0.15)
    np.testing.assert_array_equal(viewer.layers[LABEL_LAYER].data, g.label)
    np.testing.assert_array_equal(viewer.layers[RESULT_LAYER].data, g.image)
    lr, lc = np.nonzero(g.label)
    assert abs(lr.mean() - point[0]) < 2 and abs(lc.mean() - point[1]) < 2
    assert "texture from crop #2" in w.status.text()
    # the result alone, zoomed to fit, its tumor outlined
    assert_zoomed_result(viewer, [RESULT_LAYER, LABEL_LAYER])
    outline = viewer.layers[LABEL_LAYER]
    assert outline.contour >= 1 and tuple(outline.colormap.map(1)[:3]) != tuple(outline.colormap.map(0)[:3])
    assert OUTLINE[1] == OUTLINE[None]
    qtbot.mouseClick(w.back_button, LEFT)  # back to the scan as it was
    assert visible_names(viewer) == {"scan"} and viewer.dims.current_step[0] == 12
    assert camera_of(viewer).zoom == pytest.approx(0.5)


def test_slice_of_the_current_image_layer(studio, qtbot):
    viewer, w = studio
    path = sample_case_dir("MSYN-H01") / "MSYN-H01_t1ce.nii.gz"
    viewer.open(str(path), plugin="napari-medsynth")
    viewer.layers.selection.active = viewer.layers["MSYN-H01_t1ce"]
    viewer.dims.set_current_step(0, 80)
    w.phi_source.setCurrentIndex(1)
    qtbot.mouseClick(w.show_slice, LEFT)
    assert viewer.layers[SLICE_LAYER].data.shape == (240, 240)
    w.location_random.setChecked(True)
    viewer.layers.selection.active = viewer.layers["MSYN-H01_t1ce"]
    qtbot.mouseClick(w.generate_button, LEFT)
    qtbot.waitUntil(lambda: w.last is not None and w.generate_button.isEnabled(), timeout=120_000)
    assert w.last.spec.phi.volume == str(path) and w.last.spec.phi.slice == 80
    assert w.last.image.shape == (240, 240)


def test_draw_attributes_stays_in_the_allowed_range(studio, qtbot):
    viewer, w = studio
    w.k.setValue(0.0)
    qtbot.mouseClick(w.randomize, LEFT)
    r = w.dataset.attribute_ranges()
    assert w.size.value() == max(2, round(r["size_rel"]["mean"] * 1000))
    assert w.orientation.value() == round(r["orientation_deg"]["mean"])


def test_generate_n_writes_a_regenerable_batch_and_can_be_cancelled(studio, qtbot, tmp_path):
    viewer, w = studio
    w.out_dir.value = tmp_path / "batch"
    w.n.setValue(3)
    qtbot.mouseClick(w.generate_n_button, LEFT)
    assert w.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: "Wrote 3 images" in w.status.text(), timeout=180_000)
    assert w.progress.value() == 1000
    sidecars = sorted((tmp_path / "batch").glob("*.json"))
    assert len(sidecars) == 3
    assert len({json.loads(p.read_text())["spec"]["phi"]["index"] for p in sidecars}) >= 1
    again, identical = regenerate(sidecars[2])
    assert identical

    w.out_dir.value = tmp_path / "long"
    w.n.setValue(200)
    qtbot.mouseClick(w.generate_n_button, LEFT)
    qtbot.waitUntil(lambda: len(list((tmp_path / "long").glob("*.json"))) >= 1, timeout=120_000)
    qtbot.mouseClick(w.cancel_button, LEFT)
    qtbot.waitUntil(lambda: w.generate_n_button.isEnabled(), timeout=120_000)
    assert len(list((tmp_path / "long").glob("*.json"))) < 200
    assert w.status.text().startswith("Wrote ")


def test_generate_n_makes_the_same_batch_as_the_cli(studio, files, qtbot, tmp_path):
    """The same choices in the panel and on the command line give the same specs, image for image."""
    import subprocess
    import sys

    from train_helpers import cli_env

    viewer, w = studio
    data, ckpt = files
    w.shape_seed.setValue(5)
    w.k.setValue(0.5)
    w.batch_class.setCurrentText("mutated")
    w.n.setValue(2)
    w.out_dir.value = tmp_path / "gui"
    qtbot.mouseClick(w.generate_n_button, LEFT)
    qtbot.waitUntil(lambda: "Wrote 2 images" in w.status.text(), timeout=180_000)
    res = subprocess.run([sys.executable, "-m", "napari_medsynth.cli", "sage", "generate", "--dataset", str(data),
                          "--checkpoints", str(ckpt.parent), "--n", "2", "--seed", "5", "--k", "0.5",
                          "--class", "mutated", "--texture-steps", str(STEPS), "--out", str(tmp_path / "cli")],
                         env=cli_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    gui = [json.loads(p.read_text()) for p in sorted((tmp_path / "gui").glob("*.json"))]
    cli = [json.loads(p.read_text()) for p in sorted((tmp_path / "cli").glob("*.json"))]
    assert len(gui) == len(cli) == 2
    assert [g["spec"] for g in gui] == [c["spec"] for c in cli]
    assert {g["class"] for g in gui} == {"mutated"}  # the class choice reached the batch
    assert [g["result"]["image_sha256"] for g in gui] == [c["result"]["image_sha256"] for c in cli]
