"""A palette of the 7 label classes: one coloured, named button per class to paint with."""

from __future__ import annotations

from qtpy.QtWidgets import QButtonGroup, QGridLayout, QGroupBox, QPushButton

from .. import labels as vocab


class ClassPalette(QGroupBox):
    """Buttons in the label map's own colours; ``group.idClicked`` gives the class value."""

    def __init__(self, title: str = "Paint with", columns: int = 4):
        super().__init__(title)
        grid = QGridLayout(self)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        for i, c in enumerate(vocab.COMPLETE7):
            b = QPushButton(c.name.split(" (")[0] if c.value else "BG (eraser)")
            b.setToolTip(c.name)
            b.setCheckable(True)
            b.setStyleSheet(swatch_style(c.color))
            self.group.addButton(b, c.value)
            grid.addWidget(b, i // columns, i % columns)

    def button(self, value: int) -> QPushButton | None:
        return self.group.button(int(value))

    def show_selected(self, value: int) -> None:
        b = self.button(value)
        if b is not None:
            b.setChecked(True)


def swatch_style(color: str) -> str:
    """Button in the class colour, with black or white text, whichever reads better."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    text = "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"
    return (f"QPushButton {{ background-color: {color}; color: {text}; padding: 3px; }}"
            "QPushButton:checked { border: 3px solid #00bfff; font-weight: bold; }"
            "QPushButton:disabled { color: #777777; }")
