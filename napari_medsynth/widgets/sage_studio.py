"""SAGE studio: steer one synthetic tumor (shape, texture, location, size, orientation) or write a batch.

A thin view over :mod:`napari_medsynth.sage.pipeline`. The panel gathers a
:class:`~napari_medsynth.sage.pipeline.GenerationSpec`; TAN texture optimisation and batches run
in a background thread whose progress a QTimer collects, so napari stays responsive. The
tumor-free slice is shown as a layer with a Points layer above it: a click there sets the
tumor's location.
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Callable

import numpy as np
from magicgui.widgets import Container, FileEdit
from napari.layers import Image, Points
from qtpy.QtCore import QSize, Qt, QTimer
from qtpy.QtGui import QIcon, QImage, QPixmap
from qtpy.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout,
                            QLabel, QListView, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QRadioButton,
                            QSlider, QSpinBox, QVBoxLayout, QWidget)

from ..sage.dataset import CropDataset
from ..sage.merge import pixel_to_rel, sample_attributes
from ..sage.pipeline import GenerationSpec, PhiSource, SageGenerator, ShapeSource
from ..sage.samples import generate_batch

if TYPE_CHECKING:
    import napari

SLICE_LAYER = "SAGE slice"
POINTS_LAYER = "SAGE location"
RESULT_LAYER = "SAGE result"
LABEL_LAYER = "SAGE result label"
POLL_MS = 100
THUMB = 48
MAX_THUMBS = 400
#: Relative tumor size slider: per-mille of the brain area.
SIZE_RANGE = (2, 200)


def _pixmap(img: np.ndarray, size: int) -> QPixmap:
    a = np.ascontiguousarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8))
    q = QImage(a.data, a.shape[1], a.shape[0], a.shape[1], QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(q).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio)


class _Job:
    """``fn(progress, should_stop)`` in a daemon thread; events are collected with :meth:`drain`."""

    def __init__(self, fn: Callable):
        self.events: queue.Queue = queue.Queue()
        self.stop_requested = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True, name="napari-medsynth-sage")
        self._thread.start()

    def _run(self, fn) -> None:
        try:
            result = fn(lambda f, t: self.events.put(("progress", f, t)), self.stop_requested.is_set)
        except Exception as exc:  # shown in the panel; the viewer goes on
            self.events.put(("error", f"{exc}", None))
        else:
            self.events.put(("done", result, None))

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def drain(self) -> list:
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out


class SageStudioWidget(QWidget):
    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        super().__init__()
        self.viewer = napari_viewer
        self.dataset: CropDataset | None = None
        self.generator: SageGenerator | None = None
        self.job: _Job | None = None
        self.last = None  # the last single result (pipeline.Generated)

        self.dataset_dir = FileEdit(label="Crop dataset", mode="d", nullable=True,
                                    tooltip="a folder made by the Tumor crops panel or 'napari-medsynth crops'")
        self.shape_ckpt = FileEdit(label="Shape model", mode="r", nullable=True, filter="*.pt",
                                   tooltip="LMS-GAN checkpoint (sage-lmsgan recipe); empty: the shipped model")
        self.dataset_dir.changed.connect(self._load_dataset)
        self.shape_ckpt.changed.connect(self._models_changed)
        self.dataset_info = QLabel("Choose a tumor-crop dataset folder (make one with the Tumor crops panel), "
                                   "or use the sample cases.")
        self.dataset_info.setWordWrap(True)
        self.sample_button = QPushButton("Use the sample cases",
                                         toolTip="crop the shipped sample cases once (about a minute) and load them")
        self.sample_button.clicked.connect(self.use_sample_cases)

        # shape
        self.mode_noise, self.mode_real, self.mode_interp = (QRadioButton(t) for t in ("Noise", "Real", "Interpolate"))
        self.mode_noise.setChecked(True)
        self.modes = QButtonGroup(self)
        for b in (self.mode_noise, self.mode_real, self.mode_interp):
            self.modes.addButton(b)
        self.shape_seed = QSpinBox(maximum=2**31 - 1, toolTip="noise seed of the LMS-GAN")
        self.real_index = QSpinBox(toolTip="index of the real binary tumor crop")
        self.interp_a, self.interp_b = QSpinBox(), QSpinBox()
        self.interp_t = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=50)
        self.shape_preview = QLabel("no shape yet")
        self.shape_preview.setFixedSize(96, 96)
        self.shape_preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.shape_preview.setStyleSheet("border: 1px solid #555;")
        shape_box = QGroupBox("Shape")
        form = QFormLayout()
        modes = QHBoxLayout()
        for b in (self.mode_noise, self.mode_real, self.mode_interp):
            modes.addWidget(b)
        form.addRow(modes)
        form.addRow("Seed", self.shape_seed)
        form.addRow("Real shape #", self.real_index)
        pair = QHBoxLayout()
        pair.addWidget(self.interp_a)
        pair.addWidget(self.interp_b)
        form.addRow("Between # and #", pair)
        form.addRow("Position (t)", self.interp_t)
        row = QHBoxLayout()
        row.addLayout(form, 1)
        row.addWidget(self.shape_preview)
        shape_box.setLayout(row)
        for w in (self.shape_seed, self.real_index, self.interp_a, self.interp_b):
            w.valueChanged.connect(self._update_preview)
        self.interp_t.valueChanged.connect(self._update_preview)
        self.modes.buttonClicked.connect(self._update_preview)

        # texture
        self.thumbs = QListWidget(viewMode=QListView.ViewMode.IconMode, movement=QListView.Movement.Static,
                                  resizeMode=QListView.ResizeMode.Adjust)
        self.thumbs.setIconSize(QSize(THUMB, THUMB))
        self.thumbs.setMinimumHeight(2 * THUMB + 24)
        self.thumbs.setMaximumHeight(3 * THUMB + 30)
        self.thumbs.setToolTip("click a real tumor crop to use its texture")
        self.thumbs.currentRowChanged.connect(self._texture_clicked)
        self.texture_random = QCheckBox("Random texture source", checked=True)
        self.texture_seed = QSpinBox(maximum=2**31 - 1, toolTip="seed of the TAN optimisation")
        self.texture_steps = QSpinBox(minimum=0, maximum=5000, value=150, toolTip="TAN optimisation steps")
        tex_box = QGroupBox("Texture")
        tex = QFormLayout()
        tex.addRow(self.thumbs)
        tex.addRow(self.texture_random)
        tex.addRow("TAN seed", self.texture_seed)
        tex.addRow("TAN steps", self.texture_steps)
        tex_box.setLayout(tex)

        # slice, location, size, orientation
        self.phi_source = QComboBox()
        self.phi_source.addItems(["Dataset slice", "Current image layer"])
        self.phi_index = QSpinBox(toolTip="index of the dataset's tumor-free slice")
        self.show_slice = QPushButton("Show slice to click a location")
        self.show_slice.clicked.connect(self.show_phi)
        self.location_random = QCheckBox("Random location", checked=True)
        self.size = QSlider(Qt.Orientation.Horizontal, minimum=SIZE_RANGE[0], maximum=SIZE_RANGE[1], value=30)
        self.size_label = QLabel()
        self.orientation = QSlider(Qt.Orientation.Horizontal, minimum=-90, maximum=90, value=0)
        self.orientation_label = QLabel()
        self.size.valueChanged.connect(self._attr_labels)
        self.orientation.valueChanged.connect(self._attr_labels)
        self.attrs_random = QCheckBox("Random size and orientation (batch)", checked=True)
        self.k = QDoubleSpinBox(minimum=0.0, maximum=5.0, singleStep=0.25, value=1.0,
                                toolTip="random attributes lie within mean ± k·std of the real tumors")
        self.randomize = QPushButton("Draw attributes")
        self.randomize.clicked.connect(self.draw_attributes)
        loc_box = QGroupBox("Slice and placement")
        loc = QFormLayout()
        loc.addRow("Tumor-free slice", self.phi_source)
        loc.addRow("Slice #", self.phi_index)
        loc.addRow(self.show_slice)
        loc.addRow(self.location_random)
        loc.addRow(self.size_label, self.size)
        loc.addRow(self.orientation_label, self.orientation)
        krow = QHBoxLayout()
        krow.addWidget(QLabel("k"))
        krow.addWidget(self.k)
        krow.addWidget(self.randomize)
        loc.addRow(krow)
        loc.addRow(self.attrs_random)
        loc_box.setLayout(loc)

        # actions
        self.generate_button = QPushButton("Generate")
        self.generate_button.clicked.connect(self.generate)
        self.n = QSpinBox(minimum=1, maximum=100_000, value=10)
        self.out_dir = FileEdit(label="Output folder", mode="d", nullable=True)
        self.generate_n_button = QPushButton("Generate N")
        self.generate_n_button.clicked.connect(self.generate_n)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar(maximum=1000)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        batch = QHBoxLayout()
        batch.addWidget(QLabel("N"))
        batch.addWidget(self.n)
        batch.addWidget(self.generate_n_button)
        batch.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        self._files = Container(widgets=[self.dataset_dir, self.shape_ckpt])  # shows the labels
        layout.addWidget(self._files.native)
        layout.addWidget(self.dataset_info)
        layout.addWidget(self.sample_button)
        layout.addWidget(shape_box)
        layout.addWidget(tex_box)
        layout.addWidget(loc_box)
        layout.addWidget(self.generate_button)
        self._out = Container(widgets=[self.out_dir])
        layout.addWidget(self._out.native)
        layout.addLayout(batch)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)

        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._on_done: Callable | None = None
        self._attr_labels()
        self._set_busy(False)

    # --- dataset and models -------------------------------------------------------------------
    def _load_dataset(self, *_):
        path = self.dataset_dir.value
        self.dataset = self.generator = None
        self.thumbs.clear()
        if path is None or str(path) in ("", "."):
            return
        try:
            ds = CropDataset.load(path)
            ranges = ds.attribute_ranges()
        except ValueError as exc:
            self._message(str(exc), error=True)
            self.dataset_info.setText("No dataset loaded.")
            self._set_busy(False)
            return
        self.dataset = ds
        self._models_changed()
        classes = sorted({r.klass for r in ds.crops})
        self.dataset_info.setText(f"{len(ds)} tumor crops ({', '.join(classes)}), {len(ds.phi)} tumor-free slices, "
                                  f"{len(ds.patients)} patients")
        for spin in (self.real_index, self.interp_a, self.interp_b):
            spin.setMaximum(max(len(ds) - 1, 0))
        self.interp_b.setValue(min(1, len(ds) - 1))
        self.phi_index.setMaximum(max(len(ds.phi) - 1, 0))
        self.size.setValue(int(np.clip(round(ranges["size_rel"]["mean"] * 1000), *SIZE_RANGE)))
        self.orientation.setValue(int(round(ranges["orientation_deg"]["mean"])))
        self.thumbs.blockSignals(True)
        for i in range(min(len(ds), MAX_THUMBS)):
            item = QListWidgetItem(QIcon(_pixmap(ds.tc[i], THUMB)), "")
            item.setToolTip(f"#{i}: {ds.crops[i].patient} slice {ds.crops[i].slice} ({ds.crops[i].klass})")
            self.thumbs.addItem(item)
        self.thumbs.setCurrentRow(-1)
        self.thumbs.blockSignals(False)
        self._message("Dataset loaded. Choose a shape, a texture and a place, then Generate.")
        self._set_busy(False)
        self._update_preview()

    def use_sample_cases(self):
        """Load the crop dataset of the shipped sample cases, building it in the background first."""
        from ..sage.sample_crops import build_sample_crops

        def work(progress, _stop):
            return build_sample_crops(progress=progress)

        self._start(work, lambda path: setattr(self.dataset_dir, "value", str(path)),
                    "Preparing the sample crop dataset…")

    def _models_changed(self, *_):
        if self.dataset is None:
            return
        ckpt = self.shape_ckpt.value
        ckpt = None if ckpt is None or str(ckpt) in ("", ".") else str(ckpt)
        self.generator = SageGenerator(self.dataset, shape_path=ckpt)
        self._update_preview()

    # --- shape preview ---------------------------------------------------------------------------
    def shape_source(self) -> ShapeSource:
        if self.mode_real.isChecked():
            return ShapeSource("real", index=self.real_index.value())
        if self.mode_interp.isChecked():
            return ShapeSource("interpolate", a=self.interp_a.value(), b=self.interp_b.value(),
                               t=self.interp_t.value() / 100.0)
        return ShapeSource("noise", seed=self.shape_seed.value())

    def _update_preview(self, *_):
        if self.generator is None:
            return
        try:
            btc = self.generator.shape(self.shape_source())
        except Exception as exc:  # a bad checkpoint or index: a message, the viewer goes on
            self.shape_preview.setText("no shape")
            self._message(f"Shape: {exc}", error=True)
            return
        self.preview_btc = btc
        self.shape_preview.setPixmap(_pixmap(btc.astype(np.float32), 96))

    def _texture_clicked(self, row: int):
        if row >= 0:
            self.texture_random.setChecked(False)

    def _attr_labels(self, *_):
        self.size_label.setText(f"Size {self.size.value() / 10:.1f} % of brain")
        self.orientation_label.setText(f"Orientation {self.orientation.value()}°")

    # --- slice and location ----------------------------------------------------------------------
    def phi_source_spec(self) -> PhiSource:
        if self.phi_source.currentIndex() == 0:
            return PhiSource(index=self.phi_index.value())
        layer = self.viewer.layers.selection.active
        if not isinstance(layer, Image) or layer.name in (SLICE_LAYER, RESULT_LAYER):
            raise ValueError("select the image layer of a tumor-free volume (opened from a NIfTI file) first")
        path = (layer.metadata.get("medsynth") or {}).get("path") or getattr(layer.source, "path", None)
        if not path or layer.data.ndim != 3:
            raise ValueError(f"{layer.name} was not read from a 3-D NIfTI file, so its slices cannot be recorded "
                             "for regeneration; open the volume from a file")
        return PhiSource(volume=str(path), slice=int(self.viewer.dims.current_step[0]))

    def show_phi(self):
        if not self._ready():
            return
        try:
            phi, brain, _, _ = self.generator.phi(self.phi_source_spec())
        except (ValueError, FileNotFoundError) as exc:
            self._message(str(exc), error=True)
            return
        self._slice_brain = brain
        if SLICE_LAYER in self.viewer.layers:
            self.viewer.layers[SLICE_LAYER].data = phi
        else:
            self.viewer.add_image(phi, name=SLICE_LAYER, colormap="gray", contrast_limits=(0.0, 1.0))
        if POINTS_LAYER not in self.viewer.layers:
            self.viewer.add_points(np.zeros((0, 2)), name=POINTS_LAYER, face_color="yellow", size=6)
        points = self.viewer.layers[POINTS_LAYER]
        points.data = np.zeros((0, 2))
        self.viewer.layers.selection.active = points
        points.mode = "add"
        self.location_random.setChecked(False)
        self._message("Click on the slice to place the tumor (the last point counts).")

    def clicked_location(self) -> tuple[float, float] | None:
        if POINTS_LAYER not in self.viewer.layers or not isinstance(self.viewer.layers[POINTS_LAYER], Points):
            return None
        data = np.asarray(self.viewer.layers[POINTS_LAYER].data)
        return None if len(data) == 0 else (float(data[-1][-2]), float(data[-1][-1]))

    def draw_attributes(self):
        if not self._ready():
            return
        a = sample_attributes(self.dataset.attribute_ranges(), self.k.value(), np.random.default_rng())
        self.size.setValue(int(np.clip(round(a.size_rel * 1000), *SIZE_RANGE)))
        self.orientation.setValue(int(round(a.orientation_deg)))

    # --- the spec ----------------------------------------------------------------------------------
    def build_spec(self, rng: np.random.Generator, i: int = 0, batch: bool = False) -> GenerationSpec:
        ds = self.dataset
        shape = self.shape_source()
        if batch and shape.mode == "noise":
            shape.seed = self.shape_seed.value() + i
        elif batch and shape.mode == "real":
            shape.index = int(rng.integers(len(ds)))
        elif batch and shape.mode == "interpolate":
            shape.a, shape.b, shape.t = int(rng.integers(len(ds))), int(rng.integers(len(ds))), float(rng.uniform())
        row = self.thumbs.currentRow()
        texture = int(rng.integers(len(ds))) if self.texture_random.isChecked() or row < 0 else row
        phi = self.phi_source_spec()
        if batch and phi.index is not None:
            phi.index = int(rng.integers(len(ds.phi)))
        attrs = sample_attributes(ds.attribute_ranges(), self.k.value(), rng)
        centroid = attrs.centroid_rel
        click = self.clicked_location()
        if not self.location_random.isChecked() and not batch:
            if click is None:
                raise ValueError("click a location on the slice first (Show slice), or tick Random location")
            _, brain, _, _ = self.generator.phi(phi)
            centroid = pixel_to_rel(brain, click)
        size, orientation = self.size.value() / 1000.0, float(self.orientation.value())
        if batch and self.attrs_random.isChecked():
            size, orientation = attrs.size_rel, attrs.orientation_deg
        seed = self.texture_seed.value() + i
        return GenerationSpec(shape=shape, texture_index=texture, texture_seed=seed, phi=phi,
                              centroid_rel=tuple(centroid), size_rel=size, orientation_deg=orientation,
                              texture_steps=self.texture_steps.value())

    # --- actions ---------------------------------------------------------------------------------
    def generate(self):
        if not self._ready():
            return
        try:
            spec = self.build_spec(np.random.default_rng())
        except (ValueError, FileNotFoundError) as exc:
            self._message(str(exc), error=True)
            return
        gen = self.generator
        self._start(lambda progress, stop: gen.generate(spec, progress), self._show_result, "Generating…")

    def generate_n(self):
        if not self._ready():
            return
        out = self.out_dir.value
        if out is None or str(out) in ("", "."):
            self._message("Choose an output folder for the batch first.", error=True)
            return
        rng = np.random.default_rng(self.shape_seed.value())
        try:
            specs = [self.build_spec(rng, i, batch=True) for i in range(self.n.value())]
        except (ValueError, FileNotFoundError) as exc:
            self._message(str(exc), error=True)
            return
        gen = self.generator

        def run(progress, stop):
            return generate_batch(gen, specs, out, progress=progress, should_stop=stop)

        self._start(run, lambda paths: self._message(f"Wrote {len(paths)} images with sidecars to {out}."),
                    f"Generating {len(specs)} images…")

    def cancel(self):
        if self.job is not None and self.job.running:
            self.job.stop_requested.set()
            self._message("Stopping after the current image…")

    def _start(self, fn, on_done, text):
        self._on_done = on_done
        self.progress.setValue(0)
        self._message(text)
        self.job = _Job(fn)
        self._set_busy(True)
        self._timer.start()

    def _poll(self):
        if self.job is None:
            return
        for kind, a, b in self.job.drain():
            if kind == "progress":
                self.progress.setValue(int(a * 1000))
                self.status.setText(str(b))
            elif kind == "error":
                self._message(f"Failed: {a}", error=True)
            else:
                self.progress.setValue(1000)
                try:
                    self._on_done(a)
                except Exception as exc:  # a display problem must not take napari down
                    self._message(f"Could not show the result: {exc}", error=True)
        if not self.job.running and self.job.events.empty():
            self._timer.stop()
            self._set_busy(False)

    def _show_result(self, generated):
        self.last = generated
        if RESULT_LAYER in self.viewer.layers:
            self.viewer.layers[RESULT_LAYER].data = generated.image
        else:
            self.viewer.add_image(generated.image, name=RESULT_LAYER, colormap="gray", contrast_limits=(0.0, 1.0))
        if LABEL_LAYER in self.viewer.layers:
            self.viewer.layers[LABEL_LAYER].data = generated.label
        else:
            labels = self.viewer.add_labels(generated.label, name=LABEL_LAYER, opacity=0.8)
            labels.contour = 1  # an outline: the tumor's texture stays visible under it
        self.viewer.layers[RESULT_LAYER].metadata["sage_sidecar"] = generated.sidecar()
        notes = "; ".join(generated.merge.notes)
        self._message(f"Tumor of {generated.merge.size_rel * 100:.1f} % of the brain, texture from crop "
                      f"#{generated.spec.texture_index}." + (f" Note: {notes}." if notes else ""))

    def _ready(self) -> bool:
        if self.dataset is None or self.generator is None:
            self._message("Choose a tumor-crop dataset folder first.", error=True)
            return False
        return not (self.job is not None and self.job.running)

    def _set_busy(self, busy: bool):
        have = self.dataset is not None
        self.sample_button.setEnabled(not busy)
        for w in (self.generate_button, self.generate_n_button, self.show_slice, self.randomize):
            w.setEnabled(have and not busy)
        self.cancel_button.setEnabled(busy)

    def _message(self, text: str, error: bool = False):
        self.status.setStyleSheet("color: #ff6b6b;" if error else "")
        self.status.setText(text)
