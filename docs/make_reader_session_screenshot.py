"""Make docs/reader_session.png: a reader session in napari, as a reader sees it.

The stimuli are axial slices of two shipped brain templates (Colin27 from Debian's mricron-data
and ICBM152 from nilearn) standing in for "real" and "synthetic" images; no generator is
involved. Run under a display, e.g.::

    xvfb-run -a -s "-screen 0 1280x1024x24" python docs/make_reader_session_screenshot.py
"""

import sys
import tempfile
from pathlib import Path

import napari
import numpy as np

from napari_medsynth.io import read_volume
from napari_medsynth.reader_study import create_study

COLIN27 = Path("/usr/share/mricron/templates/ch2bet.nii.gz")
OUT = Path(__file__).resolve().parent / "reader_session.png"


def axial_slices(volume: np.ndarray, count: int) -> np.ndarray:
    centre = volume.shape[0] // 2
    return np.stack([volume[k] for k in range(centre - 2 * count, centre + 2 * count, 4)][:count])


def main() -> None:
    from nilearn.datasets import load_mni152_template

    work = Path(tempfile.mkdtemp())
    colin = read_volume(COLIN27).data
    mni = np.asanyarray(load_mni152_template(resolution=1).dataobj)
    mni = np.flip(np.transpose(mni, (2, 1, 0)), axis=(0, 1, 2))  # RAS (x, y, z) -> display (S, P, L)
    made = create_study(work / "study", axial_slices(colin, 5), axial_slices(mni, 5), size=100,
                        ask_tumor=True, seed="screenshot", title="Demo study")

    viewer = napari.Viewer(title="napari-medsynth")
    viewer.window.resize(1200, 800)
    viewer.add_image(colin, name="ch2bet (hidden during reading)")
    _, widget = viewer.window.add_plugin_dock_widget("napari-medsynth", "Reader session")
    widget.study_edit.setText(str(made.folder))
    widget.reader_edit.setText("reader1")
    widget.start()
    for _ in range(3):  # a reader three images in
        widget.session.answer("real", tumor_answer=False)
    widget._show_current()
    for toast in viewer.window._qt_window.findChildren(object):  # napari's start-up toast about
        if type(toast).__name__ == "NapariQtNotification":       # the Qt binding is not part of it
            toast.close()
    for _ in range(10):
        napari.qt.get_qapp().processEvents()
    viewer.screenshot(str(OUT), canvas_only=False)
    widget.stop()
    viewer.close()
    print(OUT)


if __name__ == "__main__":
    sys.exit(main())
