"""Evaluate synthetic images (report in the background) and review / discard their clusters.

Thin: the evaluation runs as a background job (:func:`~napari_medsynth.evaluate.job.evaluation_job`)
that the panel's :class:`~._jobs.JobRunner` drains. Cluster review reads the report's ``clusters.npz`` through
:mod:`napari_medsynth.evaluate.clusters` and shows one cluster at a time as an image stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from magicgui.widgets import CheckBox, Container, FileEdit, LineEdit, SpinBox
from qtpy.QtWidgets import QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..evaluate.clusters import load_clusters, write_kept_list
from ..evaluate.job import evaluation_job
from ..evaluate.report import EvaluationSettings
from ._jobs import JobRunner

if TYPE_CHECKING:
    import napari


class EvaluateWidget(QWidget):
    def __init__(self, napari_viewer: napari.Viewer | None = None):
        super().__init__()
        self.viewer = napari_viewer
        self.clusters = None
        self.real = FileEdit(label="Real folder", mode="d")
        self.synthetic = FileEdit(label="Synthetic folder", mode="d")
        self.out = FileEdit(label="Report folder", mode="d")
        self.size = SpinBox(label="Image size", value=64, min=16, max=512)
        self.steps = SpinBox(label="Training steps", value=300, min=1, max=100000)
        self.n_clusters = SpinBox(label="Clusters", value=4, min=0, max=50)
        self.downstream = CheckBox(text="Downstream experiment (slow)", value=False)
        form = Container(widgets=[self.real, self.synthetic, self.out, self.size, self.steps, self.n_clusters,
                                  self.downstream])
        self.run_button = QPushButton("Evaluate")
        self.run_button.clicked.connect(self.start)
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.cluster_index = SpinBox(label="Cluster", value=0, min=0, max=0)
        self.discard = LineEdit(label="Discard clusters", value="")
        show = QPushButton("Show cluster")
        show.clicked.connect(self.show_cluster)
        keep = QPushButton("Write kept list")
        keep.clicked.connect(self.write_kept)
        layout = QVBoxLayout(self)
        for w in (form.native, self.run_button, self.progress, self.status, QLabel("Clean synthetic images"),
                  Container(widgets=[self.cluster_index, self.discard]).native, show, keep):
            layout.addWidget(w)
        layout.addStretch()
        self.runner = JobRunner(self, 200)
        self.runner.progress.connect(self._progress)
        self.runner.succeeded.connect(self._done)
        self.runner.failed.connect(lambda message: self.status.setText(f"Evaluation failed: {message}"))
        self.runner.finished.connect(lambda: self.run_button.setEnabled(True))

    def settings(self) -> EvaluationSettings:
        steps = self.steps.value
        return EvaluationSettings(size=self.size.value, patch=self.size.value, domain_steps=steps, c2st_steps=steps,
                                  clusters=self.n_clusters.value, downstream=self.downstream.value,
                                  downstream_steps=steps, unet_steps=steps, threads=1)

    @property
    def job(self):
        return self.runner.job

    def start(self) -> None:
        if self.runner.busy:
            return
        folders = {"real": self.real.value, "synthetic": self.synthetic.value, "report": self.out.value}
        missing = [name for name, v in folders.items() if not str(v) or str(v) == "."]
        if missing:
            self.status.setText(f"Choose the {', '.join(missing)} folder(s) first.")
            return
        self.runner.start(evaluation_job(folders["real"], folders["synthetic"], folders["report"], self.settings()))
        self.run_button.setEnabled(False)
        self.status.setText("Evaluating ...")

    def _progress(self, done: float, total: float, message: str) -> None:
        self.progress.setMaximum(max(int(total), 1))
        self.progress.setValue(int(done))
        self.status.setText(message)

    def _done(self, numbers: dict) -> None:
        t = numbers["turing"]["statistics"]
        self.status.setText(f"Report written to {self.out.value}/report.md. Machine Turing test "
                            f"accuracy {t['accuracy']:.2f} ({t['ci_low']:.2f}-{t['ci_high']:.2f}).")
        self.load_clusters()

    def load_clusters(self) -> bool:
        try:
            self.clusters = load_clusters(self.out.value)
        except ValueError as exc:
            self.status.setText(str(exc))
            return False
        self.cluster_index.max = self.clusters.k - 1
        return True

    def show_cluster(self) -> None:
        if self.clusters is None and not self.load_clusters():
            return
        c = self.cluster_index.value
        members = self.clusters.members(c)
        if self.viewer is not None:
            name = "cluster"
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
            self.viewer.add_image(self.clusters.images[members], name=name, colormap="gray",
                                  contrast_limits=(-1, 1))
        self.status.setText(f"Cluster {c}: {len(members)} images, most central first.")

    def write_kept(self) -> None:
        if self.clusters is None and not self.load_clusters():
            return
        try:
            discard = [int(x) for x in self.discard.value.replace(",", " ").split()]
            path = write_kept_list(self.clusters, discard)
        except ValueError as exc:
            self.status.setText(f"Cannot write the kept list: {exc} (enter cluster numbers such as 1, 3)")
            return
        self.status.setText(f"Wrote {path}.")
