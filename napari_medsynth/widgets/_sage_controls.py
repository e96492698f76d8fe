"""The SAGE studio's three groups of controls: shape, texture, and slice + placement.

Each group holds its Qt controls and turns them into the part of a specification it stands for
(:class:`~napari_medsynth.sage.pipeline.ShapeSource`, a texture choice, attributes); the studio
(:mod:`.sage_studio`) composes them, loads the dataset and runs the work.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from qtpy.QtCore import QSize, Qt
from qtpy.QtGui import QIcon, QImage, QPixmap
from qtpy.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QSlider,
    QSpinBox,
)

from ..sage.pipeline import ShapeSource

THUMB = 48
MAX_THUMBS = 400
#: Relative tumor size slider: per-mille of the brain area.
SIZE_RANGE = (2, 200)
#: The default tumor-free slice lies this far up its patient's axial range, among large slices.
TYPICAL_HEIGHT, LARGE_BRAIN = 0.6, 0.9


def typical_phi_index(dataset) -> int:
    """A typical supratentorial tumor-free slice of ``dataset``, for the first Generate.

    Slice #0 is the lowest of its patient: the posterior fossa, with little brain to put a tumor
    in. Of the patient with the most tumor-free slices (a tumor-free case covers the whole brain),
    take among the slices with a large brain area (90 % of its largest or more) the one nearest 60 %
    of the way up the patient's tumor-free slices: the level of the lateral ventricles, above the
    posterior fossa and below the vertex.
    """
    records = dataset.phi_records
    if not records:
        return 0
    counts = Counter(r.patient for r in records)
    patient = max(counts, key=counts.get)  # the first such patient on a tie
    idx = np.flatnonzero([r.patient == patient for r in records])
    z = np.array([records[i].slice for i in idx], float)
    area = np.array([int(np.count_nonzero(dataset.phi_mask[i])) for i in idx])
    large = area >= LARGE_BRAIN * area.max()
    target = z.min() + TYPICAL_HEIGHT * (z.max() - z.min())
    return int(idx[large][np.argmin(np.abs(z[large] - target))])


def pixmap(img: np.ndarray, size: int) -> QPixmap:
    a = np.ascontiguousarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8))
    q = QImage(a.data, a.shape[1], a.shape[0], a.shape[1], QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(q).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio)


class ShapeControls(QGroupBox):
    """Noise seed, a real shape, or an interpolation between two real shapes; a preview beside."""

    def __init__(self) -> None:
        super().__init__("Shape")
        self.mode_noise, self.mode_real, self.mode_interp = (QRadioButton(t) for t in ("Noise", "Real", "Interpolate"))
        self.mode_noise.setChecked(True)
        self.modes = QButtonGroup(self)
        for b in (self.mode_noise, self.mode_real, self.mode_interp):
            self.modes.addButton(b)
        self.seed = QSpinBox(maximum=2**31 - 1, toolTip="noise seed of the LMS-GAN; for a batch, the batch's seed")
        self.real_index = QSpinBox(toolTip="index of the real binary tumor crop")
        self.interp_a, self.interp_b = QSpinBox(), QSpinBox()
        self.interp_t = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=50)
        self.preview = QLabel("no shape yet")
        self.preview.setFixedSize(96, 96)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setStyleSheet("border: 1px solid #555;")
        form = QFormLayout()
        modes = QHBoxLayout()
        for b in (self.mode_noise, self.mode_real, self.mode_interp):
            modes.addWidget(b)
        form.addRow(modes)
        form.addRow("Seed", self.seed)
        form.addRow("Real shape #", self.real_index)
        pair = QHBoxLayout()
        pair.addWidget(self.interp_a)
        pair.addWidget(self.interp_b)
        form.addRow("Between # and #", pair)
        form.addRow("Position (t)", self.interp_t)
        row = QHBoxLayout()
        row.addLayout(form, 1)
        row.addWidget(self.preview)
        self.setLayout(row)

    def connect_changed(self, slot) -> None:
        for w in (self.seed, self.real_index, self.interp_a, self.interp_b):
            w.valueChanged.connect(slot)
        self.interp_t.valueChanged.connect(slot)
        self.modes.buttonClicked.connect(slot)

    def set_count(self, n_crops: int) -> None:
        for spin in (self.real_index, self.interp_a, self.interp_b):
            spin.setMaximum(max(n_crops - 1, 0))
        self.interp_b.setValue(min(1, n_crops - 1))

    @property
    def mode(self) -> str:
        return "real" if self.mode_real.isChecked() else "interpolate" if self.mode_interp.isChecked() else "noise"

    def source(self) -> ShapeSource:
        if self.mode == "real":
            return ShapeSource("real", index=self.real_index.value())
        if self.mode == "interpolate":
            return ShapeSource("interpolate", a=self.interp_a.value(), b=self.interp_b.value(),
                               t=self.interp_t.value() / 100.0)
        return ShapeSource("noise", seed=self.seed.value())

    def show_shape(self, btc: np.ndarray | None) -> None:
        if btc is None:
            self.preview.setText("no shape")
        else:
            self.preview.setPixmap(pixmap(btc.astype(np.float32), 96))


class TextureControls(QGroupBox):
    """The real tumor crops as thumbnails (a click picks the texture source) and TAN's settings."""

    def __init__(self) -> None:
        super().__init__("Texture")
        self.thumbs = QListWidget(viewMode=QListView.ViewMode.IconMode, movement=QListView.Movement.Static,
                                  resizeMode=QListView.ResizeMode.Adjust)
        self.thumbs.setIconSize(QSize(THUMB, THUMB))
        self.thumbs.setMinimumHeight(2 * THUMB + 24)
        self.thumbs.setMaximumHeight(3 * THUMB + 30)
        self.thumbs.setToolTip("click a real tumor crop to use its texture")
        self.thumbs.currentRowChanged.connect(self._clicked)
        self.random = QCheckBox("Random texture source", checked=True)
        self.seed = QSpinBox(maximum=2**31 - 1, toolTip="seed of the TAN optimisation")
        self.steps = QSpinBox(minimum=0, maximum=5000, value=150, toolTip="TAN optimisation steps")
        form = QFormLayout()
        form.addRow(self.thumbs)
        form.addRow(self.random)
        form.addRow("TAN seed", self.seed)
        form.addRow("TAN steps", self.steps)
        self.setLayout(form)

    def _clicked(self, row: int) -> None:
        if row >= 0:
            self.random.setChecked(False)

    def fill(self, dataset) -> None:
        self.thumbs.blockSignals(True)
        self.thumbs.clear()
        for i in range(min(len(dataset), MAX_THUMBS)):
            item = QListWidgetItem(QIcon(pixmap(dataset.tc[i], THUMB)), "")
            rec = dataset.crops[i]
            item.setToolTip(f"#{i}: {rec.patient} slice {rec.slice} ({rec.klass})")
            self.thumbs.addItem(item)
        self.thumbs.setCurrentRow(-1)
        self.thumbs.blockSignals(False)

    def chosen(self) -> int | None:
        """The picked crop's index, or None for a random texture source."""
        row = self.thumbs.currentRow()
        return None if self.random.isChecked() or row < 0 else row


class PlacementControls(QGroupBox):
    """Which tumor-free slice, where in it, how large and in which orientation."""

    def __init__(self) -> None:
        super().__init__("Slice and placement")
        self.phi_source = QComboBox()
        self.phi_source.addItems(["Dataset slice", "Current image layer"])
        self.phi_index = QSpinBox(toolTip="index of the dataset's tumor-free slice")
        self.show_slice = QPushButton("Show slice to click a location")
        self.location_random = QCheckBox("Random location", checked=True)
        self.size = QSlider(Qt.Orientation.Horizontal, minimum=SIZE_RANGE[0], maximum=SIZE_RANGE[1], value=30)
        self.size_label = QLabel()
        self.orientation = QSlider(Qt.Orientation.Horizontal, minimum=-90, maximum=90, value=0)
        self.orientation_label = QLabel()
        self.size.valueChanged.connect(self._labels)
        self.orientation.valueChanged.connect(self._labels)
        self.attrs_random = QCheckBox("Random size and orientation (batch)", checked=True)
        self.k = QDoubleSpinBox(minimum=0.0, maximum=5.0, singleStep=0.25, value=1.0,
                                toolTip="random attributes lie within mean ± k·std of the real tumors")
        self.randomize = QPushButton("Draw attributes")
        form = QFormLayout()
        form.addRow("Tumor-free slice", self.phi_source)
        form.addRow("Slice #", self.phi_index)
        form.addRow(self.show_slice)
        form.addRow(self.location_random)
        form.addRow(self.size_label, self.size)
        form.addRow(self.orientation_label, self.orientation)
        krow = QHBoxLayout()
        krow.addWidget(QLabel("k"))
        krow.addWidget(self.k)
        krow.addWidget(self.randomize)
        form.addRow(krow)
        form.addRow(self.attrs_random)
        self.setLayout(form)
        self._labels()

    def _labels(self, *_args) -> None:
        self.size_label.setText(f"Size {self.size.value() / 10:.1f} % of brain")
        self.orientation_label.setText(f"Orientation {self.orientation.value()}°")

    def set_attributes(self, size_rel: float, orientation_deg: float) -> None:
        self.size.setValue(int(np.clip(round(size_rel * 1000), *SIZE_RANGE)))
        self.orientation.setValue(int(round(orientation_deg)))

    @property
    def size_rel(self) -> float:
        return self.size.value() / 1000.0
