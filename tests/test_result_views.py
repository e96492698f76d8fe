"""2-D results in their own view: shown alone, zoomed to fit, and the user's view of the scan given back."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_medsynth.widgets._clean_layout import camera_of, canvas_size, grid_of
from napari_medsynth.widgets._result_view import BACK_TEXT, back_button, fit_box, result_view, select_visible

LEFT = Qt.MouseButton.LeftButton


def visible_names(viewer) -> set[str]:
    return {layer.name for layer in viewer.layers if layer.visible}


def fill(viewer, lo, hi) -> float:
    """The larger fraction of the canvas that the world box [lo, hi] covers on an axis (1.0: edge to edge)."""
    return float(np.max((np.asarray(hi) - lo) * camera_of(viewer).zoom / np.asarray(canvas_size(viewer))))


def assert_fits(viewer, layers):
    """Centred on what ``layers`` show and zoomed so it fills the canvas (not a corner of it), all in view."""
    lo, hi = fit_box(layers)
    assert tuple(camera_of(viewer).center)[-2:] == pytest.approx(tuple((lo + hi) / 2))
    assert 0.9 <= fill(viewer, lo, hi) <= 1.0


def assert_zoomed_result(viewer, names):
    """The result ``names`` alone, in 2-D, zoomed to fit: how every panel shows a 2-D result."""
    assert visible_names(viewer) == set(names)
    assert viewer.dims.ndisplay == 2 and not grid_of(viewer).enabled
    assert_fits(viewer, [viewer.layers[n] for n in names])


@pytest.fixture
def scan(make_napari_viewer):
    """A 3-D case as the user left it: 3-D display, a slice, their own zoom, grid mode, a hidden map."""
    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.random.default_rng(0).random((40, 300, 300), np.float32), name="case_t1ce")
    viewer.add_labels(np.zeros((40, 300, 300), np.uint8), name="case_seg")
    hidden = viewer.add_labels(np.zeros((40, 300, 300), np.uint8), name="case_labels7", visible=False)
    viewer.dims.set_current_step(0, 27)
    camera_of(viewer).zoom = 0.37
    grid_of(viewer).enabled = True
    viewer.layers.selection.active = viewer.layers["case_seg"]
    state = {"visible": visible_names(viewer), "step": viewer.dims.current_step, "zoom": 0.37,
             "center": tuple(camera_of(viewer).center)}
    assert not hidden.visible
    return viewer, state


def assert_scan_back(viewer, state):
    assert {n for n in visible_names(viewer) if n.startswith("case")} == state["visible"]
    assert viewer.dims.current_step == state["step"] and grid_of(viewer).enabled
    assert camera_of(viewer).zoom == pytest.approx(state["zoom"])
    assert tuple(camera_of(viewer).center) == pytest.approx(state["center"])
    assert viewer.layers.selection.active is viewer.layers["case_seg"]


def test_a_result_is_shown_alone_and_zoomed_then_the_scan_comes_back(scan, qtbot):
    viewer, state = scan
    viewer.dims.ndisplay = 3
    button = back_button(viewer)
    qtbot.addWidget(button)
    assert button.text() == BACK_TEXT and not button.isEnabled()
    result = viewer.add_image(np.ones((64, 96), np.float32), name="result")  # small: 64 px in a 300 px scan
    assert fill(viewer, (0, 0), (64, 96)) < 0.5  # as it was: a small image in the corner of the case
    result_view(viewer).show([result], "result")
    assert_zoomed_result(viewer, ["result"])
    assert button.isEnabled()
    qtbot.mouseClick(button, LEFT)
    assert viewer.dims.ndisplay == 3
    viewer.dims.ndisplay = 2
    assert_scan_back(viewer, state)
    assert not result.visible and not button.isEnabled()  # not drawn over the scan's corner


def test_the_view_fits_what_a_result_shows_not_its_black_frame(scan):
    """A brain padded into a square slice: the brain fills the view, not the padding around it."""
    viewer, _ = scan
    view = result_view(viewer)
    slice_ = np.zeros((256, 256), np.float32)
    slice_[100:160, 40:200] = 0.7
    image = viewer.add_image(slice_, name="slice", translate=(0, 500))
    outline = viewer.add_labels(np.zeros((256, 256), np.uint8), name="outline", translate=(0, 500))
    view.show([image, outline], "slice")
    lo, hi = fit_box([image, outline])
    np.testing.assert_allclose(lo, (99.5, 539.5))
    np.testing.assert_allclose(hi, (159.5, 699.5))
    assert_zoomed_result(viewer, ["slice", "outline"])
    assert fill(viewer, (-0.5, 499.5), (255.5, 755.5)) > 1.2  # the frame is larger than the canvas


def test_deleting_the_result_gives_the_scan_back(scan, qtbot):
    viewer, state = scan
    view = result_view(viewer)  # made when a panel opens, before its results
    a = viewer.add_image(np.ones((32, 32), np.float32), name="a")
    b = viewer.add_labels(np.zeros((32, 32), np.uint8), name="b")
    view.show([a, b], "pair")
    viewer.layers.remove(a)
    qtbot.wait(10)
    assert view.showing  # the other layer of the result is still there
    viewer.layers.remove(b)
    qtbot.waitUntil(lambda: not view.showing)
    assert_scan_back(viewer, state)


def test_turning_a_scan_layer_on_goes_back_and_a_result_layer_on_comes_again(scan, qtbot):
    viewer, state = scan
    view = result_view(viewer)
    result = viewer.add_image(np.ones((32, 48), np.float32), name="result")
    view.show([result], "result")
    viewer.layers["case_labels7"].visible = True  # the user's click on its eye
    assert not view.showing and not result.visible
    assert viewer.layers["case_labels7"].visible and viewer.layers["case_t1ce"].visible
    assert camera_of(viewer).zoom == pytest.approx(state["zoom"])
    viewer.layers["case_labels7"].visible = False
    result.visible = True  # back to the result
    assert view.showing
    assert_zoomed_result(viewer, ["result"])


def test_one_view_for_all_panels(scan, qtbot):
    """From one panel's result to another's and back: the scan, not the first result."""
    viewer, state = scan
    result_view(viewer)
    first = viewer.add_image(np.ones((32, 32), np.float32), name="first")
    second = viewer.add_image(np.ones((50, 20), np.float32), name="second")
    result_view(viewer).show([first], "first")
    result_view(viewer).show([second], "second")
    assert_zoomed_result(viewer, ["second"])
    first.visible = True  # its eye in the layer list: that result instead, fitted
    assert_zoomed_result(viewer, ["first"])
    assert result_view(viewer).showing_group("first")
    result_view(viewer).show([second], "second")
    result_view(viewer).restore()
    assert_scan_back(viewer, state)
    assert not first.visible and not second.visible


def test_a_hidden_active_layer_gives_way_to_a_visible_label_layer(scan):
    viewer, _ = scan
    viewer.layers.selection.active = viewer.layers["case_labels7"]  # what the sample cases leave active
    select_visible(viewer)
    assert viewer.layers.selection.active is viewer.layers["case_seg"]
