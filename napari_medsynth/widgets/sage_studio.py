"""SAGE studio: steer one synthetic tumor (shape, texture, location, size, orientation) or write a batch.

A thin view over :mod:`napari_medsynth.sage`. The controls (:mod:`._sage_controls`) give a
:class:`~napari_medsynth.sage.pipeline.GenerationSpec` for one image; a batch is a
:class:`~napari_medsynth.sage.batches.BatchRequest`, made into specs by the same
:func:`~napari_medsynth.sage.batches.batch_specs` as ``napari-medsynth sage generate``. TAN
texture optimisation and batches run as background jobs that a :class:`~._jobs.JobRunner`
drains, so napari stays responsive. The tumor-free slice is shown as a layer with a Points
layer above it: a click there sets the tumor's location. The slice and the result are shown in
their own view, zoomed to fit (:mod:`._result_view`); "Back to the scan" gives the scan back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import Container, FileEdit
from napari.layers import Image, Points
from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget

from ..jobs import Job
from ..sage.batches import BatchRequest, batch_specs
from ..sage.dataset import CropDataset
from ..sage.merge import pixel_to_rel, sample_attributes
from ..sage.pipeline import GenerationSpec, PhiSource, SageGenerator
from ..sage.samples import generate_batch
from ._jobs import JobRunner
from ._l2m_controls import model_field
from ._result_view import back_button, result_view
from ._sage_controls import PlacementControls, ShapeControls, TextureControls, typical_phi_index

if TYPE_CHECKING:
    import napari

SLICE_LAYER = "SAGE slice"
POINTS_LAYER = "SAGE location"
RESULT_LAYER = "SAGE result"
LABEL_LAYER = "SAGE result label"
#: The tumor's outline: one colour that stands out on grey MR.
OUTLINE = {0: "transparent", 1: "#ffd400", None: "#ffd400"}
POLL_MS = 100
ANY_CLASS = "any class"


class SageStudioWidget(QWidget):
    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.dataset: CropDataset | None = None
        self.generator: SageGenerator | None = None
        self.last = None  # the last single result (pipeline.Generated)
        self.preview_btc: np.ndarray | None = None

        self.dataset_dir = FileEdit(label="Crop dataset", mode="d", nullable=True,
                                    tooltip="a folder made by the Tumor crops panel or 'napari-medsynth crops'")
        self.shape_ckpt = model_field("Shape model",
                                      "LMS-GAN checkpoint (sage-lmsgan recipe); empty: the shipped model")
        self.dataset_dir.changed.connect(self._load_dataset)
        self.shape_ckpt.changed.connect(self._models_changed)
        self.dataset_info = QLabel("Choose a tumor-crop dataset folder (make one with the Tumor crops panel), "
                                   "or use the sample cases.")
        self.dataset_info.setWordWrap(True)
        self.sample_button = QPushButton("Use the sample cases",
                                         toolTip="crop the shipped sample cases once (about a minute) and load them")
        self.sample_button.clicked.connect(self.use_sample_cases)

        self.shape_box, self.texture_box, self.placement_box = ShapeControls(), TextureControls(), PlacementControls()
        self.shape_box.connect_changed(self._update_preview)
        self.placement_box.show_slice.clicked.connect(self.show_phi)
        self.placement_box.randomize.clicked.connect(self.draw_attributes)
        # The controls under the names the studio has always offered (scripts and tests use them).
        sb, tb, pb = self.shape_box, self.texture_box, self.placement_box
        self.mode_noise, self.mode_real, self.mode_interp = sb.mode_noise, sb.mode_real, sb.mode_interp
        self.shape_seed, self.real_index, self.shape_preview = sb.seed, sb.real_index, sb.preview
        self.interp_a, self.interp_b, self.interp_t = sb.interp_a, sb.interp_b, sb.interp_t
        self.thumbs, self.texture_random = tb.thumbs, tb.random
        self.texture_seed, self.texture_steps = tb.seed, tb.steps
        self.phi_source, self.phi_index, self.show_slice = pb.phi_source, pb.phi_index, pb.show_slice
        self.location_random, self.size, self.orientation = pb.location_random, pb.size, pb.orientation
        self.attrs_random, self.k, self.randomize = pb.attrs_random, pb.k, pb.randomize

        self.generate_button = QPushButton("Generate")
        self.generate_button.clicked.connect(self.generate)
        self.n = QSpinBox(minimum=1, maximum=100_000, value=10)
        self.batch_class = QComboBox(toolTip="take shapes and textures of this class only")
        self.batch_class.addItem(ANY_CLASS)
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
        batch.addWidget(self.batch_class)
        batch.addWidget(self.generate_n_button)
        batch.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        self._files = Container(widgets=[self.dataset_dir, self.shape_ckpt])  # shows the labels
        self.back_button = back_button(self.viewer)
        for w in (self._files.native, self.dataset_info, self.sample_button, self.shape_box, self.texture_box,
                  self.placement_box, self.generate_button, self.back_button,
                  Container(widgets=[self.out_dir]).native):
            layout.addWidget(w)
        layout.addLayout(batch)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)

        self.runner = JobRunner(self, POLL_MS)
        self.runner.progress.connect(self._progress)
        self.runner.succeeded.connect(self._done)
        self.runner.failed.connect(lambda message: self._message(f"Failed: {message}", error=True))
        self.runner.finished.connect(lambda: self._set_busy(False))
        self._on_done: Callable | None = None
        self._set_busy(False)

    @property
    def job(self) -> Job | None:
        return self.runner.job

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
        self.batch_class.clear()
        self.batch_class.addItems([ANY_CLASS, *classes])
        self.shape_box.set_count(len(ds))
        self.phi_index.setMaximum(max(len(ds.phi) - 1, 0))
        self.phi_index.setValue(typical_phi_index(ds))  # not #0: the posterior fossa
        self.placement_box.set_attributes(ranges["size_rel"]["mean"], ranges["orientation_deg"]["mean"])
        self.texture_box.fill(ds)
        self._message("Dataset loaded. Choose a shape, a texture and a place, then Generate.")
        self._set_busy(False)
        self._update_preview()

    def use_sample_cases(self):
        """Load the crop dataset of the shipped sample cases, building it in the background first."""
        from ..sage.sample_crops import build_sample_crops

        self._start(lambda ctx: build_sample_crops(progress=ctx.progress),
                    lambda path: setattr(self.dataset_dir, "value", str(path)), "Preparing the sample crop dataset…")

    def _models_changed(self, *_):
        if self.dataset is None:
            return
        ckpt = self.shape_ckpt.value
        ckpt = None if ckpt is None or str(ckpt) in ("", ".") else str(ckpt)
        self.generator = SageGenerator(self.dataset, shape_path=ckpt)
        self._update_preview()

    # --- shape preview ---------------------------------------------------------------------------
    def shape_source(self):
        return self.shape_box.source()

    def _update_preview(self, *_):
        if self.generator is None:
            return
        try:
            btc = self.generator.shape(self.shape_source())
        except Exception as exc:  # a bad checkpoint or index: a message, the viewer goes on
            self.shape_box.show_shape(None)
            self._message(f"Shape: {exc}", error=True)
            return
        self.preview_btc = btc
        self.shape_box.show_shape(btc)

    # --- slice and location ----------------------------------------------------------------------
    def _layer_volume(self) -> tuple[str, int]:
        """(NIfTI path, current axial slice) of the selected image layer."""
        layer = self.viewer.layers.selection.active
        if not isinstance(layer, Image) or layer.name in (SLICE_LAYER, RESULT_LAYER):
            raise ValueError("select the image layer of a tumor-free volume (opened from a NIfTI file) first")
        path = (layer.metadata.get("medsynth") or {}).get("path") or getattr(layer.source, "path", None)
        if not path or layer.data.ndim != 3:
            raise ValueError(f"{layer.name} was not read from a 3-D NIfTI file, so its slices cannot be recorded "
                             "for regeneration; open the volume from a file")
        return str(path), int(self.viewer.dims.current_step[0])

    def phi_source_spec(self) -> PhiSource:
        if self.phi_source.currentIndex() == 0:
            return PhiSource(index=self.phi_index.value())
        volume, k = self._layer_volume()
        return PhiSource(volume=volume, slice=k)

    def show_phi(self):
        if not self._ready():
            return
        try:
            phi, brain, _, _ = self.generator.phi(self.phi_source_spec())
        except (ValueError, FileNotFoundError) as exc:
            self._message(str(exc), error=True)
            return
        if SLICE_LAYER in self.viewer.layers:
            self.viewer.layers[SLICE_LAYER].data = phi
        else:
            self.viewer.add_image(phi, name=SLICE_LAYER, colormap="gray", contrast_limits=(0.0, 1.0))
        if POINTS_LAYER not in self.viewer.layers:
            self.viewer.add_points(np.zeros((0, 2)), name=POINTS_LAYER, face_color="yellow", size=6)
        points = self.viewer.layers[POINTS_LAYER]
        points.data = np.zeros((0, 2))
        result_view(self.viewer).show([self.viewer.layers[SLICE_LAYER], points], SLICE_LAYER)
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
        self.placement_box.set_attributes(a.size_rel, a.orientation_deg)

    # --- specifications ----------------------------------------------------------------------------
    def build_spec(self, rng: np.random.Generator) -> GenerationSpec:
        """The one image the controls describe (random choices where they leave it open)."""
        ds = self.dataset
        chosen = self.texture_box.chosen()
        texture = int(rng.integers(len(ds))) if chosen is None else chosen
        phi = self.phi_source_spec()
        centroid = sample_attributes(ds.attribute_ranges(), self.k.value(), rng).centroid_rel
        if not self.location_random.isChecked():
            click = self.clicked_location()
            if click is None:
                raise ValueError("click a location on the slice first (Show slice), or tick Random location")
            _, brain, _, _ = self.generator.phi(phi)
            centroid = pixel_to_rel(brain, click)
        return GenerationSpec(shape=self.shape_source(), texture_index=texture, texture_seed=self.texture_seed.value(),
                              phi=phi, centroid_rel=tuple(centroid), size_rel=self.placement_box.size_rel,
                              orientation_deg=float(self.orientation.value()), texture_steps=self.texture_steps.value())

    def batch_request(self) -> BatchRequest:
        """The batch the controls describe, as ``napari-medsynth sage generate|merge`` would make it:
        the shape seed seeds the batch; fixed texture, size and orientation where the controls fix them."""
        klass = self.batch_class.currentText()
        fixed_attrs = not self.attrs_random.isChecked()
        request = BatchRequest(n=self.n.value(), seed=self.shape_seed.value(), k=self.k.value(),
                               shape_mode=self.shape_box.mode, klass=None if klass in ("", ANY_CLASS) else klass,
                               texture_index=self.texture_box.chosen(), texture_steps=self.texture_steps.value(),
                               size_rel=self.placement_box.size_rel if fixed_attrs else None,
                               orientation_deg=float(self.orientation.value()) if fixed_attrs else None)
        if self.phi_source.currentIndex() == 1:
            request.phi_volume, slice_ = self._layer_volume()
            request.phi_slices = (slice_,)
        return request

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
        self._start(lambda ctx: gen.generate(spec, ctx.progress), self._show_result, "Generating…")

    def generate_n(self):
        if not self._ready():
            return
        out = self.out_dir.value
        if out is None or str(out) in ("", "."):
            self._message("Choose an output folder for the batch first.", error=True)
            return
        try:
            specs = batch_specs(self.dataset, self.batch_request())
        except (ValueError, FileNotFoundError) as exc:
            self._message(str(exc), error=True)
            return
        gen = self.generator
        self._start(lambda ctx: generate_batch(gen, specs, out, progress=ctx.progress, should_stop=ctx.should_stop),
                    lambda paths: self._message(f"Wrote {len(paths)} images with sidecars to {out}."),
                    f"Generating {len(specs)} images…")

    def cancel(self):
        if self.job is not None and self.job.running:
            self.job.stop()
            self._message("Stopping after the current image…")

    def _start(self, fn, on_done, text):
        self._on_done = on_done
        self.progress.setValue(0)
        self._message(text)
        self.runner.start(Job(fn, name="napari-medsynth-sage"))
        self._set_busy(True)

    def _progress(self, done: float, total: float, message: str):
        self.progress.setValue(int(1000 * done / total) if total else 0)
        self.status.setText(message)

    def _done(self, result):
        self.progress.setValue(1000)
        try:
            self._on_done(result)
        except Exception as exc:  # a display problem must not take napari down
            self._message(f"Could not show the result: {exc}", error=True)

    def _show_result(self, generated):
        self.last = generated
        if RESULT_LAYER in self.viewer.layers:
            self.viewer.layers[RESULT_LAYER].data = generated.image
        else:
            self.viewer.add_image(generated.image, name=RESULT_LAYER, colormap="gray", contrast_limits=(0.0, 1.0))
        if LABEL_LAYER in self.viewer.layers:
            self.viewer.layers[LABEL_LAYER].data = generated.label
        else:
            labels = self.viewer.add_labels(generated.label, name=LABEL_LAYER, opacity=0.9, colormap=OUTLINE)
            labels.contour = 1  # an outline: the tumor's texture stays visible under it
        self.viewer.layers[RESULT_LAYER].metadata["sage_sidecar"] = generated.sidecar()
        result_view(self.viewer).show([self.viewer.layers[RESULT_LAYER], self.viewer.layers[LABEL_LAYER]],
                                      RESULT_LAYER)
        notes = "; ".join(generated.merge.notes)
        self._message(f"Tumor of {generated.merge.size_rel * 100:.1f} % of the brain, texture from crop "
                      f"#{generated.spec.texture_index}." + (f" Note: {notes}." if notes else ""))

    def _ready(self) -> bool:
        if self.dataset is None or self.generator is None:
            self._message("Choose a tumor-crop dataset folder first.", error=True)
            return False
        return not self.runner.running

    def _set_busy(self, busy: bool):
        have = self.dataset is not None
        self.sample_button.setEnabled(not busy)
        for w in (self.generate_button, self.generate_n_button, self.show_slice, self.randomize):
            w.setEnabled(have and not busy)
        self.cancel_button.setEnabled(busy)

    def _message(self, text: str, error: bool = False):
        self.status.setStyleSheet("color: #ff6b6b;" if error else "")
        self.status.setText(text)
