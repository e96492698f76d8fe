"""The Label → MR panel's groups of controls: where the map starts from, how it renders, where it is saved.

Layout only; :mod:`.label_to_mr` connects them to the map, the renderer and the files.
"""

from __future__ import annotations

from magicgui.widgets import FileEdit
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
)

MEAN_STYLE = -1  # the style spin box's minimum, shown as "mean style"
#: What an empty model field says while the shipped model is in use.
SHIPPED = "shipped model"
NO_SHIPPED = "no shipped model: choose a .pt file"


def model_field(label: str, tooltip: str) -> FileEdit:
    """A checkpoint field; empty, it reads "shipped model" (not a blank that looks required)."""
    field = FileEdit(label=label, mode="r", filter="*.pt", nullable=True, tooltip=tooltip)
    field.line_edit.native.setPlaceholderText(SHIPPED)
    return field


def show_shipped(field: FileEdit, loaded: bool) -> None:
    """What the empty ``field`` stands for: the shipped model, or none to fall back on."""
    field.line_edit.native.setPlaceholderText(SHIPPED if loaded else NO_SHIPPED)


class StartControls(QGroupBox):
    """A blank brain outline, a PGGAN sample (with its seed), or a slice of an open label layer."""

    def __init__(self) -> None:
        super().__init__("Start from")
        grid = QGridLayout(self)
        self.blank_button = QPushButton("New blank map")
        self.blank_button.setToolTip("A brain outline (grey matter, white matter, ventricles) to paint a tumor into")
        self.sample_button = QPushButton("Sample from PGGAN")
        self.sample_seed = QSpinBox()
        self.sample_seed.setRange(0, 2**31 - 1)
        self.sample_seed.setPrefix("seed ")
        self.sample_seed.setToolTip("The same seed always gives the same label map")
        self.source_combo = QComboBox()
        self.source_combo.setToolTip("A label layer: a 7-class map (_labels7) or a BraTS segmentation (_seg)")
        self.slice_button = QPushButton("Use current slice")
        self.slice_button.setToolTip("Take the axial slice shown in the viewer from the chosen label layer")
        self.source_info = QLabel()
        self.source_info.setWordWrap(True)
        grid.addWidget(self.blank_button, 0, 0, 1, 2)
        grid.addWidget(self.sample_button, 1, 0)
        grid.addWidget(self.sample_seed, 1, 1)
        grid.addWidget(self.source_combo, 2, 0)
        grid.addWidget(self.slice_button, 2, 1)
        grid.addWidget(self.source_info, 3, 0, 1, 2)


#: The sequence choice that shows every rendered sequence at once.
ALL_SEQUENCES = "all"
SEQUENCE_NAMES = {"t1": "T1", "t1ce": "T1-Gd", "t2": "T2", "flair": "FLAIR"}


class RenderControls(QGroupBox):
    """The sequence shown, the style seed of the live render, and K styles of the same map."""

    def __init__(self) -> None:
        super().__init__("Render")
        form = QFormLayout(self)
        self.sequence = QComboBox()
        self.sequence.setToolTip("The MR sequence shown beside the map; every sequence is rendered from one style "
                                 "(one patient), so switching needs no new render")
        form.addRow("Sequence", self.sequence)
        self.style_seed = QSpinBox()
        self.style_seed.setRange(MEAN_STYLE, 2**31 - 1)
        self.style_seed.setSpecialValueText("mean style")
        self.style_seed.setValue(MEAN_STYLE)
        self.style_seed.setToolTip("Style of the rendered MR; 'mean style' is the renderer's average look")
        form.addRow("Style seed", self.style_seed)
        row = QHBoxLayout()
        self.k_styles = QSpinBox()
        self.k_styles.setRange(2, 16)
        self.k_styles.setValue(4)
        self.k_styles.setPrefix("K = ")
        self.styles_button = QPushButton("Render K styles")
        self.styles_button.setToolTip("The same map in K styles (seeds from the style seed on), below the pair")
        row.addWidget(self.k_styles)
        row.addWidget(self.styles_button)
        form.addRow(row)

    def seed(self) -> int | None:
        v = self.style_seed.value()
        return None if v == MEAN_STYLE else int(v)

    def set_sequences(self, modalities: list[str], default: str) -> None:
        """Offer the renderer's sequences (and all of them together when it has several)."""
        self.sequence.blockSignals(True)
        try:
            self.sequence.clear()
            for m in modalities:
                self.sequence.addItem(SEQUENCE_NAMES.get(m, m), m)
            if len(modalities) > 1:
                self.sequence.addItem(f"All {len(modalities)} (one patient)", ALL_SEQUENCES)
            if default in modalities:
                self.sequence.setCurrentIndex(modalities.index(default))
        finally:
            self.sequence.blockSignals(False)

    def chosen_sequence(self) -> str | None:
        """The sequence to show: a name, ALL_SEQUENCES, or None before a renderer is loaded."""
        return self.sequence.currentData()


class SaveControls(QGroupBox):
    """The case folder a pair is saved as."""

    def __init__(self) -> None:
        super().__init__("Save pair")
        form = QFormLayout(self)
        self.save_dir = FileEdit(mode="d", nullable=True, tooltip="The pair becomes the case folder FOLDER/NAME/")
        self.stem = QLineEdit("SYN-0001")
        self.stem.setToolTip("Case name: files NAME_labels7.nii.gz, NAME_t1ce.nii.gz and NAME.json")
        self.save_button = QPushButton("Save pair…")
        form.addRow("Folder", self.save_dir.native)
        form.addRow("Case name", self.stem)
        form.addRow(self.save_button)
