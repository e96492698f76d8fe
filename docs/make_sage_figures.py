"""SAGE figures for the README: merged slices next to their tumor-free originals, and the studio.

    python docs/make_sage_figures.py merged --dataset DIR [--checkpoints DIR]
    xvfb-run -a -s "-screen 0 1400x900x24" python docs/make_sage_figures.py studio --dataset DIR [--checkpoints DIR]

``--checkpoints``: a folder with ``sage-lmsgan.pt`` (default: the shipped shape model).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parent


def merged_figure(dataset: str, checkpoints: str | None, n: int = 4, seed: int = 3) -> Path:
    """Top row: tumor-free slices; bottom row: the same slices with a SAGE tumor (label outlined)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_medsynth._sample_data import sample_case_dir
    from napari_medsynth.sage.batches import random_spec
    from napari_medsynth.sage.pipeline import PhiSource, SageGenerator

    gen = SageGenerator.open(dataset, checkpoints)
    rng = np.random.default_rng(seed)
    volume = str(sample_case_dir("MSYN-H01") / "MSYN-H01_t1ce.nii.gz")
    sources = [None, None, PhiSource(volume=volume, slice=78), PhiSource(volume=volume, slice=92)][:n]
    results = []
    for src in sources:
        spec = random_spec(gen.dataset, rng, shape_mode="noise", phi=src)
        results.append(gen.generate(spec))
    fig, axes = plt.subplots(2, n, figsize=(3.2 * n, 6.6), facecolor="black")
    for j, g in enumerate(results):
        where = f"MSYN-H01 slice {g.spec.phi.slice}" if g.spec.phi.volume else g.provenance["dataset"]["phi_from"]
        for i, img in enumerate((g.phi, g.image)):
            ax = axes[i, j]
            ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if i == 1:
                ax.contour(g.label, levels=[0.5], colors="#ffcc00", linewidths=0.8)
            ax.set_axis_off()
        axes[0, j].set_title(f"tumor-free: {where}", color="white", fontsize=9)
        axes[1, j].set_title(f"+ SAGE tumor ({g.merge.size_rel * 100:.1f} % of brain)", color="white", fontsize=9)
    fig.suptitle("SAGE merge: synthetic tumors (LMS-GAN shape, TAN texture) in tumor-free T1-Gd slices; "
                 "yellow: tumor label. Sample data are simulated.", color="white", fontsize=9)
    fig.tight_layout()
    out = DOCS / "sage_merged.png"
    fig.savefig(out, dpi=110, facecolor="black")
    plt.close(fig)
    return out


def studio_screenshot(dataset: str, checkpoints: str | None) -> Path:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_medsynth.widgets.sage_studio import POINTS_LAYER, RESULT_LAYER

    viewer = napari.Viewer(title="napari-medsynth: SAGE studio")
    viewer.window._qt_window.resize(1400, 900)
    _, w = viewer.window.add_plugin_dock_widget("napari-medsynth", "SAGE studio")
    if checkpoints:
        w.shape_ckpt.value = Path(checkpoints) / "sage-lmsgan.pt"
    w.dataset_dir.value = dataset
    w.shape_seed.setValue(7)
    k = int(np.argmax(w.dataset.phi_mask.sum(axis=(1, 2))))
    w.phi_index.setValue(k)
    w.show_phi()
    brain = w.dataset.phi_mask[k].astype(bool)
    rows, cols = np.nonzero(brain)
    viewer.layers[POINTS_LAYER].add([[np.percentile(rows, 35), np.percentile(cols, 62)]])
    w.thumbs.setCurrentRow(5)
    w.size.setValue(45)
    w.orientation.setValue(30)
    w.generate()
    while w.job is not None and w.job.running or RESULT_LAYER not in viewer.layers:
        QApplication.processEvents()
        w.job.wait(0.05)
    for _ in range(10):
        QApplication.processEvents()
    viewer.layers["SAGE slice"].visible = False
    viewer.layers.selection.active = viewer.layers[RESULT_LAYER]
    for toast in viewer.window._qt_window.findChildren(object):  # napari's start-up toast about
        if type(toast).__name__ == "NapariQtNotification":       # the Qt binding is not part of it
            toast.close()
    viewer.reset_view()
    QApplication.processEvents()
    out = DOCS / "sage_studio.png"
    viewer.screenshot(str(out), canvas_only=False, flash=False)
    viewer.close()
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=("merged", "studio"))
    p.add_argument("--dataset", required=True)
    p.add_argument("--checkpoints")
    a = p.parse_args()
    make = merged_figure if a.what == "merged" else studio_screenshot
    print(make(a.dataset, a.checkpoints))
