"""MR volume panel: geometry of the selected layer, the image <-> labels override, and the 7-class
complete map (tumor + WM/GM/CSF) of the case a layer came from, made off the GUI thread."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from napari.layers import Image, Labels
from qtpy.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..jobs import Job
from ..layer_ops import as_label_data, describe
from ._jobs import JobRunner

if TYPE_CHECKING:
    import napari


class VolumeWidget(QWidget):
    """Shows orientation and voxel size of the selected layer; converts image <-> labels."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.to_labels = QPushButton("Treat as labels")
        self.to_labels.setToolTip("Replace the selected image layer by a label layer with the same values")
        self.to_image = QPushButton("Treat as image")
        self.to_image.setToolTip("Replace the selected label layer by a greyscale image layer")
        self.to_labels.clicked.connect(lambda: self._convert("labels"))
        self.to_image.clicked.connect(lambda: self._convert("image"))
        self.labels7_button = QPushButton("Make 7-class tissue map (labels7)")
        self.labels7_button.setToolTip(
            "For the BraTS case of the selected layer: tumor classes from its _seg file, WM/GM/CSF from "
            "the T1 (else T1-Gd) intensities (bias correction, Gaussian mixture, MRF smoothing)")
        self.labels7_button.clicked.connect(self._make_labels7)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.runner = JobRunner(self)
        self.runner.progress.connect(self._labels7_progress)
        self.runner.succeeded.connect(self._labels7_done)
        self.runner.failed.connect(lambda message: self._message(f"labels7 failed: {message}", error=True))
        self.runner.finished.connect(lambda: self.labels7_button.setEnabled(True))
        buttons = QHBoxLayout()
        buttons.addWidget(self.to_labels)
        buttons.addWidget(self.to_image)
        layout = QVBoxLayout(self)
        layout.addWidget(self.info)
        layout.addLayout(buttons)
        layout.addWidget(self.labels7_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.viewer.layers.selection.events.active.connect(self._refresh)
        self._refresh()

    def _active(self):
        return self.viewer.layers.selection.active

    def _refresh(self, event=None):
        layer = self._active()
        # isinstance, not the class name: napari hands plugins a proxy of each layer
        self.to_labels.setEnabled(isinstance(layer, Image))
        self.to_image.setEnabled(isinstance(layer, Labels))
        if layer is None:
            self.info.setText("Select an image or label layer.")
            return
        info = layer.metadata.get("medsynth")
        self.info.setText(f"<b>{layer.name}</b><br>" + describe(info, layer.data.shape, layer.scale)
                          .replace("\n", "<br>"))

    def _convert(self, target: str) -> None:
        layer = self._active()
        if layer is None:
            return
        try:
            data = as_label_data(layer.data) if target == "labels" else layer.data
        except ValueError as exc:
            self._message(str(exc), error=True)
            return
        meta = dict(layer.metadata)
        if "medsynth" in meta:
            meta["medsynth"] = {**meta["medsynth"], "kind": target}
        common = dict(name=layer.name, scale=layer.scale, translate=layer.translate, metadata=meta)
        new = Labels(data, opacity=0.5, **common) if target == "labels" else Image(data, colormap="gray", **common)
        index = self.viewer.layers.index(layer)
        self.viewer.layers.remove(layer)  # first, so the new layer keeps the name
        self.viewer.layers.insert(index, new)
        self.viewer.layers.selection.active = new
        self._message(f"{new.name} is now treated as {target}.")

    # --- 7-class complete map ---------------------------------------------------------------
    def case_folder(self) -> tuple[Path | None, str]:
        """The case folder to map, from the selected layer's file, else the one case the layers
        come from; (None, why not) when there is none."""
        from ..io import VolumeReadError, case_files

        def folder_of(layer):
            path = (layer.metadata.get("medsynth") or {}).get("path") if layer is not None else None
            return Path(path).parent if path else None

        folder = folder_of(self._active())
        if folder is None:
            folders = {f for f in map(folder_of, self.viewer.layers) if f is not None}
            if len(folders) > 1:
                return None, "Select a layer of the case to make the 7-class map for."
            folder = next(iter(folders), None)
        if folder is None:
            return None, "Open a BraTS case folder (MR images and a _seg tumor label file) first."
        try:
            found = case_files(folder)
        except VolumeReadError as exc:
            return None, f"No BraTS case here: {exc}"
        if "seg" not in found.files:
            return None, (f"{folder.name}: no tumor segmentation (_seg) next to the image; labels7 needs the case's "
                          "tumor labels.")
        return folder, ""

    def _make_labels7(self) -> None:
        from ..case_tissues import labels7_for_case

        folder, why = self.case_folder()
        if folder is None:
            return self._message(why, error=True)
        self.labels7_button.setEnabled(False)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self._message(f"Making the 7-class map of {folder.name} ...")
        self.runner.start(Job(lambda ctx: labels7_for_case(folder, progress=ctx.progress),
                              name="napari-medsynth-labels7"))

    def _labels7_progress(self, done: float, total: float, message: str) -> None:
        self.progress.setValue(int(round(100 * done / total)) if total else 0)
        self.status.setText(message)

    def _labels7_done(self, result) -> None:
        from .._reader import labels_style
        from ..labels import COMPLETE7

        labels7, ref, info = result
        self.progress.setValue(100)
        source = next((layer for layer in self.viewer.layers
                       if (layer.metadata.get("medsynth") or {}).get("path") == ref.path), None)
        meta = {**ref.metadata(), "kind": "labels", "label_convention": "", "path": "", "derived_from": ref.path}
        scale, translate = (source.scale, source.translate) if source is not None else (ref.spacing, None)
        layer = Labels(labels7, name=f"{info['case']}_labels7", scale=scale, translate=translate, opacity=0.5,
                       metadata={"medsynth": meta}, **labels_style(COMPLETE7))
        self.viewer.add_layer(layer)
        ml = ", ".join(f"{k} {v:.0f} ml" for k, v in info["ml"].items() if k != "BG")
        text = f"{layer.name}: tissues from {info['modality']} in {info['seconds']:.1f} s; {ml}."
        self._message(" ".join([text, *(f"Warning: {w}." for w in info["warnings"])]), error=bool(info["warnings"]))

    def _message(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color: #e06c6c" if error else "")
        self.status.setText(text)
