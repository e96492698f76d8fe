"""Screenshots for the README: the app as it opens, and several sample cases side by side.

Run under a (virtual) display: ``xvfb-run -a -s "-screen 0 1400x1000x24" python docs/make_screenshots.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parent


def _settle(viewer) -> None:
    """Let Qt lay out the window and docks before the camera is fitted and the picture taken."""
    from qtpy.QtWidgets import QApplication

    for _ in range(5):
        QApplication.processEvents()
    viewer.reset_view()
    QApplication.processEvents()


def app_screenshot() -> None:
    import time

    from qtpy.QtWidgets import QApplication

    from napari_medsynth.widgets.launch import launch

    viewer = launch(run=False)
    viewer.window._qt_window.resize(1400, 1000)
    end = time.time() + 20  # the tabbed panels load in the background
    while time.time() < end:
        QApplication.processEvents()
        time.sleep(0.01)
    _settle(viewer)
    viewer.screenshot(str(DOCS / "app_sample_case.png"), canvas_only=False, flash=False)
    viewer.close()


def cases_screenshot(case_ids=("MSYN-001", "MSYN-003", "MSYN-005", "MSYN-007", "MSYN-004", "MSYN-H01")) -> None:
    """Axial slice through each tumor (middle slice when tumor-free), image + labels, in napari's grid."""
    import napari

    from napari_medsynth._reader import read_path
    from napari_medsynth._sample_data import sample_case_dir

    viewer = napari.Viewer(title="napari-medsynth: sample cases")
    viewer.window._qt_window.resize(1400, 900)
    for case in case_ids:  # image then its labels: napari's grid takes layers two at a time
        layers = {meta["name"]: (data, meta, kind) for data, meta, kind in read_path(sample_case_dir(case))}
        seg = layers[f"{case}_seg"][0]
        counts = (seg > 0).sum(axis=(1, 2))
        k = int(np.argmax(counts)) if counts.any() else seg.shape[0] // 2 + 10
        img_data, img_meta, _ = layers[f"{case}_t1ce"]
        viewer.add_image(img_data[k], name=f"{case} T1-Gd slice {k}", colormap="gray",
                         contrast_limits=img_meta["contrast_limits"], scale=img_meta["scale"][1:])
        viewer.add_labels(seg[k], name=f"{case} labels", colormap=layers[f"{case}_seg"][1]["colormap"],
                          opacity=0.35, scale=img_meta["scale"][1:])
    viewer.grid.enabled = True
    viewer.grid.stride = 2
    viewer.grid.shape = (2, 3)
    _settle(viewer)
    viewer.screenshot(str(DOCS / "sample_cases_napari.png"), canvas_only=False, flash=False)
    viewer.close()


if __name__ == "__main__":
    import napari._qt.qt_main_window as _qmw

    _qmw.SHOW_QT_WARNING = False  # napari's one-off backend notice would cover the picture
    app_screenshot()
    cases_screenshot()
