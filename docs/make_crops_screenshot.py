"""Screenshot of the Tumor crops panel: a seed grown on MSYN-001, then the patient added to a dataset.

Run under a (virtual) display: ``xvfb-run -a -s "-screen 0 1400x900x24" python docs/make_crops_screenshot.py``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parent


def main() -> None:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_medsynth._reader import volume_to_layer_data
    from napari_medsynth._sample_data import sample_case_dir
    from napari_medsynth.io import read_volume
    from napari_medsynth.widgets.crops import TumorCropsWidget

    case = sample_case_dir("MSYN-001")
    viewer = napari.Viewer(title="napari-medsynth: tumor crops")
    viewer.window._qt_window.resize(1400, 900)
    data, meta, _ = volume_to_layer_data(read_volume(case / "MSYN-001_t1ce.nii.gz"))
    viewer.add_image(data, **meta)
    widget = TumorCropsWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Tumor crops")
    labels = widget.new_labels()
    seg = read_volume(case / "MSYN-001_seg.nii.gz").data
    enh = np.argwhere(seg == 4)
    seed = enh[np.argmin(((enh - enh.mean(0)) ** 2).sum(1))]
    widget.seed_mode.setChecked(True)
    widget.grow_3d.setCurrentIndex(1)
    widget.radius.setValue(25)
    widget.grow_at(seed)
    viewer.dims.set_point(0, int(seed[0]))
    widget.dataset_dir.value = Path(tempfile.mkdtemp()) / "crops"
    widget.add_to_dataset()
    while widget.busy or not widget.add_button.isEnabled():
        QApplication.processEvents()
        time.sleep(0.05)
    viewer.layers.selection.active = labels
    for _ in range(5):
        QApplication.processEvents()
    viewer.reset_view()
    QApplication.processEvents()
    viewer.screenshot(str(DOCS / "sage_crops_panel.png"), canvas_only=False, flash=False)
    viewer.close()


if __name__ == "__main__":
    main()
