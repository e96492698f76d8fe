"""Tumor crops panel: paint or grow the tumor on an MR volume, then add the patient to a crop dataset.

Thin view over :mod:`napari_medsynth.sage.segment` (seeded region growing) and
:mod:`napari_medsynth.sage.crops` (extraction). Extraction runs as a background job that the
panel's :class:`~._jobs.JobRunner` drains, so napari stays responsive.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import FileEdit
from napari.layers import Image, Labels, Points
from qtpy.QtCore import Qt
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..io import is_nifti_path
from ..jobs import Job
from ..sage.crops import add_arrays, patient_id_from_path, sha256_file
from ..sage.dataset import CropDataset, CropSettings
from ..sage.segment import grow_region, robust_range
from ._jobs import JobRunner
from ._lifetime import when_destroyed

if TYPE_CHECKING:
    import napari

N_THUMBS = 6
THUMB_PX = 64
POLL_MS = 100


class TumorCropsWidget(QWidget):
    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self._range_cache: dict[int, float] = {}
        self._last_grow: tuple | None = None  # (labels layer, seed) of the grow the slider may redo

        # --- layers ---
        self.image_combo = QComboBox()
        self.labels_combo = QComboBox()
        self.new_labels_button = QPushButton("New tumor labels")
        self.new_labels_button.setToolTip("An empty label layer on the image's grid: paint the tumor with "
                                          "napari's brush and fill tools, or grow it from seeds below")
        self.new_labels_button.clicked.connect(self.new_labels)
        layers = QFormLayout()
        layers.addRow("Image", self.image_combo)
        layers.addRow("Tumor labels", self.labels_combo)
        layers.addRow(self.new_labels_button)

        # --- seeded growing ---
        self.seed_mode = QCheckBox("Click on the image to grow from a seed")
        self.seed_mode.setToolTip("Each click adds a seed and writes the grown region into the tumor labels "
                                  "(one undoable edit; Ctrl+Z in the labels layer undoes it)")
        self.tolerance = QSlider(Qt.Horizontal)
        self.tolerance.setRange(1, 60)
        self.tolerance.setValue(15)
        self.tolerance.setToolTip("intensity tolerance, % of the image's 0.5-99.5 percentile range; "
                                  "moving it redoes the last grow")
        self.tolerance_label = QLabel()
        self.grow_3d = QComboBox()
        self.grow_3d.addItems(["2-D (this slice)", "3-D"])
        self.radius = QSpinBox()
        self.radius.setRange(2, 200)
        self.radius.setValue(40)
        self.radius.setSuffix(" mm")
        self.radius.setToolTip("the region never reaches farther than this from the seed")
        self.tolerance.valueChanged.connect(self._tolerance_changed)
        tol_row = QHBoxLayout()
        tol_row.addWidget(self.tolerance, 1)
        tol_row.addWidget(self.tolerance_label)
        grow = QFormLayout()
        grow.addRow(self.seed_mode)
        grow.addRow("Tolerance", tol_row)
        grow.addRow("Grow in", self.grow_3d)
        grow.addRow("Region radius", self.radius)
        grow_box = QGroupBox("Semi-automatic")
        grow_box.setLayout(grow)

        # --- dataset ---
        self.dataset_dir = FileEdit(mode="d", nullable=True, tooltip="crop dataset folder (created if new)")
        self.patient = QLineEdit()
        self.klass = QLineEdit("tumor")
        self.klass.setToolTip("class of this patient, e.g. control or mutated")
        self.crop_size, self.margin, self.min_size, self.phi_size = (
            _spin(8, 512, 64, " px"), _spin(0, 64, 4, " px"), _spin(1, 100_000, 50, " px"), _spin(8, 1024, 256, " px"))
        self.min_size.setToolTip("slices whose tumor is smaller than this (1 px = 1 mm²) are skipped")
        self.replace = QCheckBox("Replace the patient if already in the dataset")
        self.add_button = QPushButton("Add to dataset")
        self.add_button.clicked.connect(self.add_to_dataset)
        ds = QFormLayout()
        ds.addRow("Dataset folder", self.dataset_dir.native)
        ds.addRow("Patient id", self.patient)
        ds.addRow("Class", self.klass)
        ds.addRow("Crop size", self.crop_size)
        ds.addRow("Margin", self.margin)
        ds.addRow("Minimum tumor size", self.min_size)
        ds.addRow("Tumor-free slice size", self.phi_size)
        ds.addRow(self.replace)
        ds.addRow(self.add_button)
        ds_box = QGroupBox("Dataset")
        ds_box.setLayout(ds)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("Choose an image, create or pick tumor labels, then add the patient to a dataset.")
        self.status.setWordWrap(True)
        self.counts = QLabel()
        self.thumbs = [QLabel() for _ in range(N_THUMBS)]
        thumbs = QHBoxLayout()
        for t in self.thumbs:
            t.setFixedSize(THUMB_PX, THUMB_PX)
            thumbs.addWidget(t)
        thumbs.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addLayout(layers)
        layout.addWidget(grow_box)
        layout.addWidget(ds_box)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.counts)
        layout.addLayout(thumbs)
        layout.addStretch(1)

        self.runner = JobRunner(self, POLL_MS)
        self.runner.progress.connect(self._progress)
        self.runner.succeeded.connect(self._finish)
        self.runner.failed.connect(lambda message: self._message(message, error=True))
        self.runner.finished.connect(lambda: self.add_button.setEnabled(True))
        self.image_combo.currentTextChanged.connect(self._image_changed)
        for ev in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed):
            ev.connect(self._refresh_layers)
        self.viewer.mouse_drag_callbacks.append(self._on_mouse)
        when_destroyed(self, functools.partial(_forget_callback, self.viewer.mouse_drag_callbacks, self._on_mouse))
        self._refresh_layers()
        self._tolerance_changed(self.tolerance.value(), regrow=False)

    # --- layer choice -------------------------------------------------------------------------
    def _layers(self, kind) -> list:
        return [layer for layer in self.viewer.layers if isinstance(layer, kind) and layer.data.ndim == 3]

    def _refresh_layers(self, event=None) -> None:
        for combo, kind in ((self.image_combo, Image), (self.labels_combo, Labels)):
            current = combo.currentText()
            names = [layer.name for layer in self._layers(kind)]
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            if current in names:
                combo.setCurrentText(current)
            combo.blockSignals(False)
        self._image_changed()

    def _image_changed(self, *_args) -> None:
        image = self.image_layer()
        if image is not None:
            path = image.metadata.get("medsynth", {}).get("path") or ""
            self.patient.setText(patient_id_from_path(path if is_nifti_path(path) else image.name + ".nii"))

    def image_layer(self) -> Image | None:
        return next((l for l in self._layers(Image) if l.name == self.image_combo.currentText()), None)

    def labels_layer(self) -> Labels | None:
        return next((l for l in self._layers(Labels) if l.name == self.labels_combo.currentText()), None)

    def new_labels(self) -> Labels | None:
        image = self.image_layer()
        if image is None:
            return self._message("Open a 3-D MR image first.", error=True)
        meta = dict(image.metadata)
        if "medsynth" in meta:
            meta["medsynth"] = {**meta["medsynth"], "kind": "labels", "path": ""}
        layer = Labels(np.zeros(image.data.shape, np.uint8), name=f"{image.name} tumor", scale=image.scale,
                       translate=image.translate, metadata=meta, opacity=0.5)
        self.viewer.add_layer(layer)
        self.labels_combo.setCurrentText(layer.name)
        self.viewer.layers.selection.active = layer
        layer.mode = "paint"
        layer.selected_label = 1
        self._message(f"Paint the tumor in '{layer.name}' (brush, fill), or tick the seed option and click on it.")
        return layer

    # --- seeded growing -----------------------------------------------------------------------
    def _on_mouse(self, viewer, event):
        if not self.seed_mode.isChecked() or event.button != 1 or event.modifiers:
            return
        start = np.array(event.position)
        yield
        while event.type == "mouse_move":  # a drag pans the view: not a seed
            if np.linalg.norm(np.array(event.position) - start) > 1e-6:
                return
            yield
        image = self.image_layer()
        if image is None:
            return
        self.grow_at(np.round(image.world_to_data(start)).astype(int))

    def _tolerance_changed(self, value: int, regrow: bool = True) -> None:
        self.tolerance_label.setText(f"{value} %")
        if regrow and self._last_grow is not None:
            labels, seed = self._last_grow
            if labels is self.labels_layer():
                labels.undo()
                self.grow_at(seed, add_point=False)

    def grow_at(self, seed, add_point: bool = True) -> int:
        """Grow from ``seed`` (voxel index of the image) into the tumor labels as one edit; returns voxels set."""
        image, labels = self.image_layer(), self.labels_layer()
        if image is None or labels is None:
            self._message("Choose an image and tumor labels (or press New tumor labels) before growing.", error=True)
            return 0
        if labels.data.shape != image.data.shape:
            self._message(f"'{labels.name}' is not on the grid of '{image.name}'.", error=True)
            return 0
        data = np.asarray(image.data)
        key = id(image.data)
        if key not in self._range_cache:
            self._range_cache = {key: robust_range(data)}
        seed = tuple(int(v) for v in seed)
        try:
            mask = grow_region(data, seed, self.tolerance.value() / 100 * self._range_cache[key],
                               mode="3d" if self.grow_3d.currentIndex() == 1 else "2d",
                               roi_radius_mm=self.radius.value(), spacing=tuple(image.scale[-3:]))
        except ValueError as exc:
            self._message(str(exc), error=True)
            return 0
        value = labels.selected_label or 1
        labels.data_setitem(np.nonzero(mask), value)  # one entry in the layer's undo history
        self._last_grow = (labels, seed)
        if add_point:
            self._seeds_layer(image).add([seed])
        self._message(f"Grew {int(mask.sum())} voxels from {seed} into '{labels.name}' (label {value}); "
                      "move the tolerance to redo it, Ctrl+Z in the labels layer to undo.")
        return int(mask.sum())

    def _seeds_layer(self, image: Image) -> Points:
        name = f"{image.name} seeds"
        found = next((l for l in self.viewer.layers if isinstance(l, Points) and l.name == name), None)
        if found is None:
            found = Points(np.zeros((0, 3)), name=name, scale=image.scale, translate=image.translate,
                           size=3, face_color="yellow")
            self.viewer.add_layer(found)
            self.viewer.layers.selection.active = self.labels_layer()
        return found

    # --- dataset ------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.runner.running

    def settings(self) -> CropSettings:
        return CropSettings(crop_size=self.crop_size.value(), margin=self.margin.value(),
                            min_tumor_pixels=self.min_size.value(), phi_size=self.phi_size.value())

    def add_to_dataset(self) -> None:
        if self.busy:
            return
        image, labels = self.image_layer(), self.labels_layer()
        folder = self.dataset_dir.value
        if image is None:
            return self._message("Open a 3-D MR image first.", error=True)
        if folder is None or not str(folder).strip() or str(folder) == ".":
            return self._message("Choose a dataset folder.", error=True)
        patient, klass = self.patient.text().strip(), self.klass.text().strip() or None
        meta = image.metadata.get("medsynth", {})
        source = None
        if meta.get("path"):
            source = {"image": meta["path"], "labels": "painted in napari" if labels is not None else None,
                      "image_sha256": sha256_file(meta["path"]) if Path(meta["path"]).is_file() else None,
                      "labels_sha256": None}
        args = dict(dataset_dir=Path(folder), image=np.array(image.data),
                    labels=None if labels is None else np.array(labels.data), spacing=tuple(image.scale[-3:]),
                    patient=patient, klass=klass, settings=self.settings(), replace=self.replace.isChecked(),
                    source=source, labels_name=labels.name if labels is not None else "labels")
        self.add_button.setEnabled(False)
        self.progress.setValue(0)
        self._message(f"Adding {patient} to {folder} ...")
        self.runner.start(Job(lambda ctx: _extract(args, ctx.progress), name="napari-medsynth-crops"))

    def _progress(self, done: float, total: float, message: str) -> None:
        self.progress.setValue(int(round(100 * done / total)) if total else 0)
        self.status.setText(message)

    def _finish(self, summary) -> None:
        self.progress.setValue(100)
        self._message(summary.line())
        self.show_dataset(summary.dataset, patient=summary.patient)

    def show_dataset(self, folder, patient: str | None = None) -> None:
        """Counts of the dataset and a few tumor crops (of ``patient`` if given)."""
        try:
            ds = CropDataset.load(folder)
        except ValueError as exc:
            return self._message(str(exc), error=True)
        classes = sorted({str(p.get("class")) for p in ds.patients.values()})
        patients = f"{len(ds.patients)} patient{'' if len(ds.patients) == 1 else 's'}"
        self.counts.setText(f"<b>{Path(folder).name}</b>: {patients} ({', '.join(classes)}), "
                            f"{len(ds)} tumor crops, {len(ds.phi)} tumor-free slices")
        idx = ds.crop_indices([patient]) if patient else np.arange(len(ds))
        if len(idx) == 0:
            idx = np.arange(len(ds))
        picks = idx[np.linspace(0, len(idx) - 1, min(N_THUMBS, len(idx))).astype(int)] if len(idx) else []
        for i, label in enumerate(self.thumbs):
            label.clear()
            if i < len(picks):
                label.setPixmap(_pixmap(ds.tc[picks[i]]))
                rec = ds.crops[picks[i]]
                label.setToolTip(f"{rec.patient} slice {rec.slice}, {rec.area_px} mm²")

    def _message(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color: #e06c6c" if error else "")
        self.status.setText(text)


def _extract(args: dict, progress):
    try:
        return add_arrays(**args, progress=progress)
    except (ValueError, OSError):  # bad input or unwritable folder: its own message
        raise
    except Exception as exc:  # noqa: BLE001 - shown to the user instead of a traceback
        raise RuntimeError(f"extraction failed: {exc!r}") from exc


def _forget_callback(callbacks: list, callback) -> None:
    if callback in callbacks:
        callbacks.remove(callback)


def _spin(lo: int, hi: int, value: int, suffix: str = "") -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setSuffix(suffix)
    return s


def _pixmap(crop: np.ndarray) -> QPixmap:
    g = np.ascontiguousarray((np.clip(crop, 0, 1) * 255).astype(np.uint8))
    img = QImage(g.data, g.shape[1], g.shape[0], g.strides[0], QImage.Format_Grayscale8).copy()
    return QPixmap.fromImage(img).scaled(THUMB_PX, THUMB_PX, Qt.KeepAspectRatio, Qt.SmoothTransformation)
