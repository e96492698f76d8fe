"""Screenshots for the README: the Label → MR panel on a real case and on a painted tumor.

1. ``label_to_mr_case.png``: the 7-class map of a tumor slice of the real sample case TCGA-DU-7294
   (Use current slice), rendered in all four sequences at the case's own 1 mm grid.
2. ``label_to_mr.png``: a tumor painted into the blank map, its T1-Gd render and two more styles.

Run under a (virtual) display:
``xvfb-run -a -s "-screen 0 1400x900x24" python docs/make_label_to_mr_screenshot.py [SPADE.pt [PGGAN.pt]]``
(without arguments the shipped checkpoints are used).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def _wait(widget, app, timeout=120.0) -> None:
    """Let the panel's debounce and renderer finish and its job runner deliver the result."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        app.processEvents()
        if widget._last is not None and not widget.live.busy and not widget._debounce.isActive():
            for _ in range(5):  # the job runner's next poll delivers it (every 40 ms while busy)
                app.processEvents()
                time.sleep(0.05)
            return
        time.sleep(0.02)
    raise TimeoutError("the renderer did not finish")


def paint_tumor(layer) -> None:
    """A right frontal glioma drawn as a person would: edema, an enhancing rim, a necrotic core."""
    n = layer.data.shape[-1]
    cy, cx = int(0.38 * n), int(0.37 * n)  # the patient's right is on the viewer's left
    for label, radius in ((2, 0.11), (3, 0.055), (1, 0.03)):
        layer.brush_size = max(1, int(2 * radius * n))
        layer.paint((cy, cx), label)
    layer.brush_size = max(1, int(0.08 * n))
    layer.paint((cy + int(0.06 * n), cx + int(0.05 * n)), 2)  # edema spreading posteriorly


def case_screenshot(viewer, widget, app) -> None:
    import numpy as np

    from napari_medsynth._sample_data import sample_case_dir
    from napari_medsynth.widgets._l2m_controls import ALL_SEQUENCES

    case = "TCGA-DU-7294"
    viewer.open(str(sample_case_dir(case)), plugin="napari-medsynth")
    layer = viewer.layers[f"{case}_labels7"]
    tumor = np.flatnonzero(np.isin(np.asarray(layer.data), (1, 2, 3)).any(axis=(1, 2)))
    viewer.dims.set_point(0, float(layer.data_to_world([int(np.median(tumor)), 0, 0])[0]))
    app.processEvents()
    widget.source_combo.setCurrentText(layer.name)
    widget.sequence.setCurrentIndex(widget.sequence.findData(ALL_SEQUENCES))
    widget.map_from_layer()
    _wait(widget, app)
    for _ in range(5):
        app.processEvents()
    viewer.screenshot(str(DOCS / "label_to_mr_case.png"), canvas_only=False, flash=False)
    widget.sequence.setCurrentIndex(widget.sequence.findData("t1ce"))
    app.processEvents()


def main(argv: list[str]) -> None:
    import napari
    import napari._qt.qt_main_window as _qmw
    from qtpy.QtWidgets import QApplication

    _qmw.SHOW_QT_WARNING = False  # napari's one-off backend notice would cover the picture
    viewer = napari.Viewer(title="napari-medsynth: Label → MR")
    viewer.window._qt_window.resize(1400, 900)
    _, panel = viewer.window.add_plugin_dock_widget("napari-medsynth", "Label → MR")
    app = QApplication.instance()
    t0 = time.monotonic()
    while not panel.ready:  # the panel loads in the background
        app.processEvents()
        time.sleep(0.05)
        if time.monotonic() - t0 > 120:
            raise TimeoutError("the Label → MR panel did not load")
    widget = panel.inner
    if len(argv) > 0:
        widget.renderer_file.value = argv[0]
    if len(argv) > 1:
        widget.sampler_file.value = argv[1]
    case_screenshot(viewer, widget, app)
    widget.new_blank_map()
    _wait(widget, app)
    layer = widget.layers.labels
    paint_tumor(layer)
    widget.class_buttons.button(3).click()
    _wait(widget, app)
    widget.k_styles.setValue(2)  # two styles below the pair keep the picture square
    widget.style_seed.setValue(1)
    _wait(widget, app)
    widget.styles_button.click()
    t0 = time.monotonic()
    while "styles" not in widget.status.text() or widget.live.busy:
        app.processEvents()
        time.sleep(0.02)
        if time.monotonic() - t0 > 120:
            raise TimeoutError("styles did not finish")
    for _ in range(5):
        app.processEvents()
    viewer.reset_view()
    app.processEvents()
    viewer.screenshot(str(DOCS / "label_to_mr.png"), canvas_only=False, flash=False)
    viewer.close()


if __name__ == "__main__":
    main(sys.argv[1:])
