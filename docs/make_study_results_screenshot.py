"""Make docs/study_results_panel.png (Summary tab) and docs/study_results_fooled.png (Fooled rate
tab): the Reader study results panel after scoring a small study.

Stand-ins, no generator and no real readers: "real" stimuli are axial T1-Gd slices of the two
shipped TCGA-LGG cases, "synthetic" ones slices of the shipped simulated cases (MSYN-*), each
saved with a provenance sidecar as a generator would. Four simulated readers answer with 1-5
confidences from a binormal latent rating of their own skill (seeded). The canvas shows the
synthetic image that fooled the most readers. Run under a display, e.g.::

    xvfb-run -a -s "-screen 0 1400x1000x24" python docs/make_study_results_screenshot.py
"""

import json
import sys
import tempfile
from pathlib import Path

import napari
import numpy as np

from napari_medsynth._sample_data import sample_case_dir
from napari_medsynth.io import read_volume
from napari_medsynth.reader_study import create_study
from napari_medsynth.reader_study.sheets import read_key

OUT = Path(__file__).resolve().parent / "study_results_panel.png"
OUT_FOOLED = Path(__file__).resolve().parent / "study_results_fooled.png"
#: reader -> (d' tumor, d' healthy, criterion): how well and how readily each calls "synthetic"
READERS = {"reader1": (1.6, 0.9, 0.2), "reader2": (1.0, 0.5, 0.4), "reader3": (0.6, 0.2, 0.0),
           "reader4": (0.3, 0.0, 0.6)}


def slices(case: str, tumor: bool, count: int) -> list[tuple[str, np.ndarray]]:
    folder = sample_case_dir(case)
    image = read_volume(folder / f"{case}_t1ce.nii.gz").data
    seg = read_volume(folder / f"{case}_seg.nii.gz", kind="labels").data
    area = (seg > 0).sum(axis=(1, 2))
    brain = (image > 0).sum(axis=(1, 2))
    if tumor:
        wanted = np.flatnonzero(area > 0.5 * area.max())
    else:
        wanted = np.flatnonzero((area == 0) & (brain > 0.6 * brain.max()))
    picks = wanted[np.linspace(0, wanted.size - 1, count).astype(int)]
    return [(f"{case}_axial{k}", image[k].astype(np.float32)) for k in picks]


def write_sources(root: Path) -> None:
    plan = {"tumor": (("TCGA-DU-7294", "TCGA-FG-6692"), ("MSYN-001", "MSYN-003", "MSYN-005", "MSYN-007")),
            "healthy": (("TCGA-DU-7294", "TCGA-FG-6692"), ("MSYN-H01",))}
    for group, (real_cases, synth_cases) in plan.items():
        for source, cases in (("real", real_cases), ("synthetic", synth_cases)):
            folder = root / source / group
            folder.mkdir(parents=True)
            per_case = -(-12 // len(cases))
            for case in cases:
                for stem, pixels in slices(case, group == "tumor", per_case):
                    np.save(folder / f"{stem}.npy", pixels)
                    if source == "synthetic":  # the provenance sidecar a generator writes
                        (folder / f"{stem}.json").write_text(json.dumps({"source": "simulated glioma", "case": case}))


def answer_sheet(key, path: Path) -> None:
    rng = np.random.default_rng(2024)
    lines = ["stimulus_id,answer,tumor_answer,reader,confidence"]
    for reader, (d_tumor, d_healthy, criterion) in READERS.items():
        for sid in sorted(key):
            entry = key[sid]
            shift = (d_tumor if entry.group == "tumor" else d_healthy) if entry.source == "synthetic" else 0.0
            z = rng.normal(shift, 1.0) - criterion
            confidence = 1 + min(4, int(abs(z) / 0.45))
            lines.append(f"{sid},{'synthetic' if z > 0 else 'real'},,{reader},{confidence}")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QApplication

    work = Path(tempfile.mkdtemp())
    write_sources(work / "sources")
    made = create_study(work / "study1", work / "sources" / "real", work / "sources" / "synthetic",
                        groups=["tumor", "healthy"], n=12, size=100, confidence=True, seed="screenshot",
                        title="Demo study")
    answer_sheet(read_key(made.key_path), work / "answers.csv")

    viewer = napari.Viewer(title="napari-medsynth")
    viewer.window._qt_window.resize(1400, 1000)
    _, widget = viewer.window.add_plugin_dock_widget("napari-medsynth", "Reader study results")
    widget.key_edit.setText(str(made.key_path))
    widget.add_answer_files([work / "answers.csv"])
    widget.run()
    while widget.busy:
        QApplication.processEvents()
    result = widget.result
    fooling = next(i for i in result.images if i["source"] == "synthetic")
    widget.show_stimulus(0)  # what a double-click on the first fooled-rate row does
    name = (f"most fooling synthetic image {fooling['stimulus_id']}: "
            f"{fooling['n_called_real']} of {fooling['n_readers']} readers called it real")
    overlay = viewer.canvas.overlays.text if hasattr(viewer, "canvas") else viewer.text_overlay
    overlay.visible = True
    overlay.text = name.replace(": ", "\n")
    overlay.font_size = 9
    qt_viewer = viewer.window._qt_viewer
    qt_viewer.dockLayerControls.setVisible(False)
    qt_viewer.dockLayerList.setVisible(False)
    dock = widget.parent()
    while dock is not None and type(dock).__name__ != "QtViewerDockWidget":
        dock = dock.parent()
    viewer.window._qt_window.resizeDocks([dock], [900], Qt.Horizontal)
    for toast in viewer.window._qt_window.findChildren(object):  # napari's start-up toast is not part of it
        if type(toast).__name__ == "NapariQtNotification":
            toast.close()
    for _ in range(10):
        QApplication.processEvents()
    viewer.reset_view()
    for _ in range(5):
        QApplication.processEvents()
    viewer.screenshot(str(OUT), canvas_only=False, flash=False)
    widget.tabs.setCurrentIndex(3)  # Fooled rate
    for _ in range(5):
        QApplication.processEvents()
    viewer.screenshot(str(OUT_FOOLED), canvas_only=False, flash=False)
    print(OUT, OUT_FOOLED, result.report_path)
    viewer.close()


if __name__ == "__main__":
    sys.exit(main())
