"""MR volume panel: geometry of the selected layer and the image <-> labels override."""

from __future__ import annotations

from typing import TYPE_CHECKING

from napari.layers import Image, Labels
from qtpy.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..layer_ops import as_label_data, describe

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
        buttons = QHBoxLayout()
        buttons.addWidget(self.to_labels)
        buttons.addWidget(self.to_image)
        layout = QVBoxLayout(self)
        layout.addWidget(self.info)
        layout.addLayout(buttons)
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
            self.status.setText(str(exc))
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
        self.status.setText(f"{new.name} is now treated as {target}.")
