"""Train panel: pick a recipe and a dataset folder, start/pause/stop, watch losses and previews.

A thin view over :mod:`napari_medsynth.train`: what the panel offers is what
``napari-medsynth train`` offers. Run settings default to :class:`~napari_medsynth.train.settings.TrainSettings`
(as the CLI's flags do); the recipe's settings are generated from its config dataclass (every
field, as ``--set KEY=VALUE`` would set it). The run is a background job
(:class:`~napari_medsynth.train.session.BackgroundRun`) that a :class:`~._jobs.JobRunner` drains
every ``POLL_MS``; closing the panel or the viewer stops it after its current step and saves a
checkpoint.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, LineEdit, SpinBox
from qtpy.QtCore import QSize, Qt
from qtpy.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QScrollArea, QVBoxLayout, QWidget

from ..train import (
    CheckpointEvent,
    DoneEvent,
    PauseEvent,
    PreviewEvent,
    StartEvent,
    StepEvent,
    Trainer,
    describe_recipe,
    get_recipe,
    list_recipes,
)
from ..train.previews import tile
from ..train.session import BackgroundRun, LossHistory
from ..train.settings import DEVICE_CHOICES, PRECISION_CHOICES, TrainSettings
from ._jobs import JobRunner
from ._recipe_form import RecipeForm
from ._result_view import back_button, result_view

if TYPE_CHECKING:
    import napari

PREVIEW_LAYER = "Training preview"
#: How often the panel collects events and redraws. Each redraw competes with training for the
#: GIL and the CPU, so 5 per second keeps napari's event loop free most of the time.
POLL_MS = 200
#: The loss plot is the most expensive redraw; once a second is enough to follow a run.
PLOT_EVERY_S = 1.0
#: Curves up to this many points are redrawn at every poll.
SHORT_CURVE = 200
#: Seconds closing the viewer waits for the run to finish its step and write the checkpoint.
CLOSE_WAIT_S = 120


class _LossPlot(pg.PlotWidget):
    """pyqtgraph asks for 640x480 by default, which would push the panel over napari's canvas."""

    def sizeHint(self) -> QSize:
        return QSize(320, 200)


class TrainWidget(QWidget):
    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        d = TrainSettings(data_dir="", out_dir="")
        self.recipe = ComboBox(label="Recipe", choices=list_recipes())
        for i, name in enumerate(list_recipes()):  # the one-line description on hover, too
            self.recipe.native.setItemData(i, describe_recipe(name), Qt.ItemDataRole.ToolTipRole)
        self.recipe_info = QLabel()
        self.recipe_info.setWordWrap(True)
        self.data_dir = FileEdit(label="Dataset folder", mode="d", nullable=True,
                                 tooltip=".npy images (H,W)/(N,H,W), NIfTI volumes or a crop dataset, searched "
                                         "recursively")
        self.pattern = LineEdit(label="File pattern", value=d.pattern, tooltip="e.g. *_t1ce.nii.gz")
        self.out_dir = FileEdit(label="Output folder", mode="d", nullable=True,
                                tooltip="checkpoints and model cards go to OUTPUT/checkpoints")
        self.steps = SpinBox(label="Steps", min=1, max=100_000_000, value=d.steps)
        self.checkpoint_every = SpinBox(label="Checkpoint every", min=1, max=100_000_000, value=d.checkpoint_every)
        self.keep = SpinBox(label="Keep checkpoints", min=0, max=10_000, value=d.keep_checkpoints,
                            tooltip="older checkpoints are deleted (0: keep all)")
        self.preview_every = SpinBox(label="Preview every", min=0, max=100_000_000, value=d.preview_every,
                                     tooltip="steps between preview images (0: none)")
        self.device = ComboBox(label="Device", choices=list(DEVICE_CHOICES), value=d.device)
        self.precision = ComboBox(label="Precision", choices=list(PRECISION_CHOICES), value=d.precision,
                                  tooltip="auto: bf16 (or fp16) autocast on CUDA, fp32 elsewhere")
        self.threads = SpinBox(label="CPU threads", min=1, max=os.cpu_count() or 1,
                               value=max(1, (os.cpu_count() or 1) - 1),
                               tooltip="torch operator threads; one core is left free to keep napari responsive")
        self.seed = SpinBox(label="Seed", min=0, max=2**31 - 1, value=d.seed)
        self.resume = CheckBox(text="Resume from last checkpoint", value=d.resume,
                               tooltip="continue the run whose checkpoints are in the output folder")
        self.form = Container(widgets=[self.recipe, self.data_dir, self.pattern, self.out_dir, self.steps,
                                       self.checkpoint_every, self.keep, self.preview_every, self.device,
                                       self.precision, self.threads, self.seed, self.resume])
        self.recipe_box = QGroupBox("Recipe settings")
        self.recipe_box.setLayout(QVBoxLayout())
        self.recipe_scroll = QScrollArea()
        self.recipe_scroll.setWidgetResizable(True)
        self.recipe_scroll.setWidget(self.recipe_box)
        self.recipe_scroll.setMaximumHeight(220)
        self.settings_form: RecipeForm | None = None
        self.recipe.changed.connect(self._recipe_changed)

        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        self.progress = QProgressBar()
        self.progress.setFormat("step %v / %m")
        self.status = QLabel("Choose a dataset folder and an output folder, then Start.")
        self.status.setWordWrap(True)
        #: What the run trains on, as the dataset describes itself (kept for the whole run).
        self.data_label = QLabel("")
        self.data_label.setWordWrap(True)
        self.plot = _LossPlot(background="k")
        self.plot.setMinimumHeight(140)
        self.plot.addLegend(offset=(-5, 5))
        self.plot.setLabel("bottom", "step")
        self.plot.setClipToView(True)
        self.plot.setDownsampling(auto=True, mode="peak")
        self._curves: dict[str, pg.PlotDataItem] = {}

        layout = QVBoxLayout(self)
        layout.addWidget(self.form.native)
        layout.addWidget(self.recipe_info)
        layout.addWidget(self.recipe_scroll)
        layout.addLayout(buttons)
        self.back_button = back_button(self.viewer)  # from the preview in its own view
        layout.addWidget(self.back_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.data_label)
        layout.addWidget(self.plot, 1)

        self.history = LossHistory()
        self._plotted_at = 0.0
        self.runner = JobRunner(self, POLL_MS, close_wait=CLOSE_WAIT_S)
        self.runner.progress.connect(self._progress)
        self.runner.events.connect(self._events)
        self.runner.finished.connect(lambda: self._set_running(False))
        self._recipe_changed()
        self._set_running(False)

    # --- the recipe's settings -----------------------------------------------------------------
    @property
    def batch_size(self):
        """The recipe's batch-size field (every recipe has one)."""
        return self.settings_form.widgets["batch_size"]

    def _recipe_changed(self, *_args) -> None:
        name = self.recipe.value
        self.recipe_info.setText(describe_recipe(name))
        self.settings_form = RecipeForm(get_recipe(name).config_class)
        layout = self.recipe_box.layout()
        while layout.count():
            item = layout.takeAt(0)
            if item.widget() is not None:
                item.widget().setParent(None)
        layout.addWidget(self.settings_form.container.native)

    # --- actions ------------------------------------------------------------------------------
    @property
    def run(self) -> BackgroundRun | None:
        return self.runner.job

    def run_settings(self) -> TrainSettings:
        return TrainSettings(
            data_dir=str(self.data_dir.value), out_dir=str(self.out_dir.value), steps=self.steps.value,
            checkpoint_every=self.checkpoint_every.value, preview_every=self.preview_every.value,
            device=self.device.value, precision=self.precision.value, seed=self.seed.value,
            resume=self.resume.value, keep_checkpoints=self.keep.value, threads=self.threads.value,
            pattern=self.pattern.value or "*")

    def start(self) -> None:
        if self.runner.busy:
            return
        if self.data_dir.value is None or self.out_dir.value is None:
            self._message("Choose a dataset folder and an output folder first.", error=True)
            return
        try:
            trainer = Trainer(self.recipe.value, self.run_settings(), self.settings_form.overrides())
        except ValueError as exc:
            self._message(str(exc), error=True)
            return
        self.history.clear()
        for curve in self._curves.values():
            curve.setData([], [])
        self._prepare_preview_layer()
        self.runner.start(BackgroundRun(trainer))
        self._message("Loading the dataset…")
        self._set_running(True)

    def toggle_pause(self) -> None:
        if self.run is None or not self.run.running:
            return
        if self.run.trainer.paused:
            self.run.unpause()
        else:
            self.run.pause()
        self.pause_button.setText("Resume" if self.run.trainer.paused else "Pause")

    def stop(self) -> None:
        if self.run is not None and self.run.running:
            self.run.stop()
            self._message("Stopping after the current step…")
            self.stop_button.setEnabled(False)

    # --- view updates ---------------------------------------------------------------------------
    def _progress(self, done: float, total: float, _message: str) -> None:
        if self.progress.maximum() != int(total):
            self.progress.setRange(0, int(total))
        self.progress.setValue(int(done))

    def _events(self, events: list) -> None:
        for e in events:  # in order: the status line ends up describing the newest event
            if isinstance(e, StepEvent):
                self.history.add(e)
                losses = "  ".join(f"{k} {v:.3g}" for k, v in e.losses.items())
                self._message(f"Step {e.step}/{e.total_steps} · {e.steps_per_s:.1f} steps/s · {losses}")
            elif isinstance(e, StartEvent):
                self.progress.setRange(0, e.total_steps)
                self.progress.setValue(max(e.step, self.progress.value()))
                verb = "Resumed" if e.resumed else "Training"
                self._message(f"{verb} on {e.device} ({e.precision}), {e.n_images} images.")
                self.data_label.setText(f"Data: {e.data}" if e.data else "")
            elif isinstance(e, PauseEvent):
                self._message(f"Paused before step {e.step + 1}." if e.paused else "Running.")
            elif isinstance(e, CheckpointEvent):
                self._message(f"Saved checkpoint at step {e.step}: {e.path}")
            elif isinstance(e, DoneEvent):
                self._finish(e)
        now = time.monotonic()
        finished = any(isinstance(e, DoneEvent) for e in events)
        stepped = any(isinstance(e, StepEvent) for e in events)
        # A short curve is cheap to draw at every poll; a long one once a second.
        due = now - self._plotted_at >= PLOT_EVERY_S or len(self.history.steps) <= SHORT_CURVE
        if (stepped and due) or finished:
            self._update_plot()
            self._plotted_at = now
        previews = [e for e in events if isinstance(e, PreviewEvent)]
        if previews:  # only the newest matters
            self._show_preview(previews[-1])

    def _update_plot(self) -> None:
        for i, (name, values) in enumerate(self.history.values.items()):
            if name not in self._curves:
                self._curves[name] = self.plot.plot(pen=pg.mkPen(pg.intColor(i, hues=6), width=1), name=name)
            self._curves[name].setData(self.history.steps, values)

    def _prepare_preview_layer(self) -> None:
        """Create the preview layer now, blank: adding a layer costs napari a few hundred ms of
        GL setup, better spent when Start is clicked than as a freeze in the middle of training.
        The preview is shown in its own view, zoomed to fit (not over a corner of the scan)."""
        if self.preview_every.value == 0:
            return
        if PREVIEW_LAYER not in self.viewer.layers:
            config = self.settings_form.config()
            blank = tile(np.full((max(config.preview_count, 1), config.image_size, config.image_size), -1.0,
                                 np.float32))
            self.viewer.add_image(blank, name=PREVIEW_LAYER, colormap="gray", contrast_limits=(-1.0, 1.0))
        result_view(self.viewer).show([self.viewer.layers[PREVIEW_LAYER]], PREVIEW_LAYER)

    def _show_preview(self, event: PreviewEvent) -> None:
        if len(event.images) == 0:
            return
        grid = tile(event.images)
        view = result_view(self.viewer)
        if PREVIEW_LAYER in self.viewer.layers:
            layer = self.viewer.layers[PREVIEW_LAYER]
            # a grid of another size is fitted again, unless the user went back to the scan
            refit = layer.data.shape != grid.shape and view.showing_group(PREVIEW_LAYER)
            layer.data = grid
        else:
            layer = self.viewer.add_image(grid, name=PREVIEW_LAYER, colormap="gray", contrast_limits=(-1.0, 1.0))
            refit = True
        if refit:
            view.show([layer], PREVIEW_LAYER)
        layer.metadata["medsynth_training_step"] = event.step

    def _finish(self, event: DoneEvent) -> None:
        self._set_running(False)
        if event.reason == "error":
            self._message(f"Training failed: {event.error}", error=True)
        else:
            where = f" Checkpoint: {event.checkpoint}" if event.checkpoint else ""
            self._message(f"Training {event.reason} at step {event.step}.{where}")

    def _set_running(self, running: bool) -> None:
        self.form.enabled = not running
        self.recipe_box.setEnabled(not running)
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.pause_button.setText("Pause")

    def _message(self, text: str, error: bool = False) -> None:
        style = "color: #ff6b6b;" if error else ""
        if self.status.styleSheet() != style:
            self.status.setStyleSheet(style)
        if self.status.text() != text:
            self.status.setText(text)
