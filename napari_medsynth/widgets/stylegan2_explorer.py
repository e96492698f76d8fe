"""StyleGAN2 explorer: sample a grid, pick one, move it through the latent space, save it.

Thin over :mod:`napari_medsynth.stylegan2.explore`: every render (the grid, the edited sample,
an interpolation) and the model load with its principal directions run in a background job
(:class:`~._jobs.JobRunner`, newest request wins), and results take the view for themselves
(:mod:`._result_view`). Saving writes the edited image as ``.npy`` with a sidecar that records
the whole edit, so the image can be drawn again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import FileEdit
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..jobs import Job
from ._jobs import JobRunner
from ._l2m_controls import model_field
from ._pair_layers import tile_grid
from ._result_view import back_button, result_view

if TYPE_CHECKING:
    import napari

GRID_LAYER = "StyleGAN2 samples"
EDIT_LAYER = "StyleGAN2 edit"
PATH_LAYER = "StyleGAN2 interpolation"
GRID_COUNT = 16
N_DIRECTIONS = 4


def _load(path, ctx=None):
    from ..stylegan2.explore import principal_directions
    from ..stylegan2.sample import StyleGAN2Sampler

    sampler = StyleGAN2Sampler.load(path)
    directions = {c: principal_directions(sampler, k=N_DIRECTIONS, cls=c) for c in (sampler.classes or (None,))}
    return sampler, directions


class StyleGAN2ExplorerWidget(QWidget):
    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.sampler = None
        self.directions: dict = {}
        self._last = None  # (Edit, image) of the newest edit shown
        self.runner = JobRunner(self, 40, close_wait=2.0)
        self.runner.succeeded.connect(self._done)
        self.runner.failed.connect(lambda msg: self._message(f"Failed: {msg}", error=True))
        self._build()
        self._enable()

    # --- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.checkpoint = model_field("Generator", "StyleGAN2 checkpoint (.pt) from 'train stylegan2'")
        self.checkpoint.changed.connect(lambda *_: self.load())
        self.cls = QComboBox()
        self.truncation = _spin(QDoubleSpinBox(), 0.0, 1.5, 0.7, 0.05, "1: none; lower: closer to the class mean")
        self.first_seed = _spin(QSpinBox(), 0, 2 ** 31 - 16, 0, 1, "seeds of the grid: this one and the next 15")
        self.grid_button = QPushButton(f"Sample {GRID_COUNT}")
        self.grid_button.clicked.connect(self.sample_grid)
        self.pick = _spin(QSpinBox(), 0, GRID_COUNT - 1, 0, 1, "which image of the grid to edit (left to right)")
        self.pick.valueChanged.connect(lambda *_: self.render_edit())
        sample = QGroupBox("Samples")
        form = QFormLayout(sample)
        form.addRow("Class", self.cls)
        form.addRow("Truncation ψ", self.truncation)
        form.addRow("First seed", self.first_seed)
        form.addRow(self.grid_button)
        form.addRow("Edit sample #", self.pick)

        edit = QGroupBox("Edit (latent directions: PCA of W)")
        grid = QGridLayout(edit)
        self.steps = []
        for k in range(N_DIRECTIONS):
            box = _spin(QDoubleSpinBox(), -4.0, 4.0, 0.0, 0.5, f"move along principal direction {k + 1} of W, "
                                                            "in standard deviations")
            box.valueChanged.connect(lambda *_: self.render_edit())
            grid.addWidget(QLabel(f"Direction {k + 1}"), k, 0)
            grid.addWidget(box, k, 1)
            self.steps.append(box)
        self.mix = QCheckBox("Mix styles from seed")
        self.mix_seed = _spin(QSpinBox(), 0, 2 ** 31 - 1, 1, 1, "the seed whose styles replace the fine layers")
        self.mix_from = _spin(QSpinBox(), 0, 64, 6, 1, "first layer taken from the other seed (low: coarse "
                                                        "anatomy too; high: texture only)")
        for w in (self.mix, self.mix_seed, self.mix_from):
            (w.toggled if isinstance(w, QCheckBox) else w.valueChanged).connect(lambda *_: self.render_edit())
        grid.addWidget(self.mix, N_DIRECTIONS, 0)
        grid.addWidget(self.mix_seed, N_DIRECTIONS, 1)
        grid.addWidget(QLabel("from layer"), N_DIRECTIONS + 1, 0)
        grid.addWidget(self.mix_from, N_DIRECTIONS + 1, 1)
        self.towards = _spin(QSpinBox(), 0, 2 ** 31 - 1, 100, 1, "the seed to interpolate towards")
        self.path_button = QPushButton("Interpolate (8 steps)")
        self.path_button.clicked.connect(self.interpolate)
        grid.addWidget(QLabel("Towards seed"), N_DIRECTIONS + 2, 0)
        grid.addWidget(self.towards, N_DIRECTIONS + 2, 1)
        grid.addWidget(self.path_button, N_DIRECTIONS + 3, 0, 1, 2)

        self.save_dir = FileEdit(label="Save to", mode="d", nullable=True)
        self.save_button = QPushButton("Save edit")
        self.save_button.clicked.connect(self.save)
        self.status = QLabel("Choose a StyleGAN2 checkpoint (train one with the Train panel, recipe stylegan2).")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        files = QFormLayout()
        files.addRow("Generator", self.checkpoint.native)
        layout.addLayout(files)
        for w in (sample, edit, back_button(self.viewer)):
            layout.addWidget(w)
        saving = QFormLayout()
        saving.addRow("Save to", self.save_dir.native)
        layout.addLayout(saving)
        layout.addWidget(self.save_button)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def _enable(self) -> None:
        ok = self.sampler is not None
        for w in (self.cls, self.truncation, self.first_seed, self.grid_button, self.pick, *self.steps, self.mix,
                  self.mix_seed, self.mix_from, self.towards, self.path_button, self.save_button):
            w.setEnabled(ok)

    def _message(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color: #e06c6c" if error else "")
        self.status.setText(text)

    # --- requests -----------------------------------------------------------------------------------
    def load(self) -> None:
        path = self.checkpoint.value
        if not path:
            return
        self.sampler = None
        self._enable()
        self._message("Loading the generator and its latent directions …")
        self._run("load", lambda ctx: _load(path, ctx))

    def edit(self, towards: int | None = None, position: float = 0.0):
        from ..stylegan2.explore import Edit

        seed = self.first_seed.value() + self.pick.value()
        return Edit(seed, self.cls.currentText() or None, round(self.truncation.value(), 3),
                    tuple(round(b.value(), 3) for b in self.steps),
                    self.mix_seed.value() if self.mix.isChecked() else None, self.mix_from.value(), towards, position)

    def sample_grid(self) -> None:
        from ..stylegan2.explore import grid

        s, first, psi = self.sampler, self.first_seed.value(), self.truncation.value()
        cls = self.cls.currentText() or None
        self._run("grid", lambda ctx: grid(s, first, GRID_COUNT, cls, psi))

    def render_edit(self) -> None:
        if self.sampler is None:
            return
        from ..stylegan2.explore import render

        s, e, d = self.sampler, self.edit(), self.directions.get(self.cls.currentText() or None)
        self._run("edit", lambda ctx: render(s, e, d), e)

    def interpolate(self) -> None:
        from ..stylegan2.explore import interpolation

        s, e, b = self.sampler, self.edit(), self.towards.value()
        d = self.directions.get(self.cls.currentText() or None)
        self._run("path", lambda ctx: interpolation(s, e, b, 8, d))

    def _run(self, kind: str, fn, edit=None) -> None:
        self.runner.start(Job(lambda ctx: (kind, fn(ctx), edit), name=f"napari-medsynth-stylegan2-{kind}"),
                          replace=True)

    # --- results ------------------------------------------------------------------------------------
    def _done(self, result) -> None:
        kind, value, edit = result
        if kind == "load":
            self.sampler, self.directions = value
            self.cls.clear()
            self.cls.addItems(list(self.sampler.classes))
            self.mix_from.setMaximum(self.sampler.generator.num_ws - 1)
            self._enable()
            self._message(f"Generator {Path(self.sampler.path).name} (sha256 {self.sampler.sha256[:10]}…, "
                          f"{self.sampler.size} px). Sample a grid, then edit one.")
            return
        if kind == "grid":
            image = tile_grid(value, 4)[0]
            self._show(GRID_LAYER, image, "grid of seeds")
            self._message(f"Seeds {self.first_seed.value()}–{self.first_seed.value() + GRID_COUNT - 1}, left to right; "
                          "pick one to edit.")
        elif kind in ("edit", "save"):
            self._last = (edit, value)
            self._show(EDIT_LAYER, value, "edit")
            if kind == "save":
                self._write(edit, value)
                return
            self._message(f"Seed {edit.seed} as edited; Save keeps it with its recipe.")
        elif kind == "path":
            self._show(PATH_LAYER, tile_grid(value, 8)[0], "interpolation")
            self._message(f"From seed {self.first_seed.value() + self.pick.value()} (left) to seed "
                          f"{self.towards.value()} (right), linear in W.")

    def _show(self, name: str, image: np.ndarray, what: str) -> None:
        if name in self.viewer.layers:
            self.viewer.layers[name].data = image
        else:
            self.viewer.add_image(image, name=name, colormap="gray", contrast_limits=(0.0, 1.0))
        others = [n for n in (GRID_LAYER, EDIT_LAYER, PATH_LAYER) if n != name and n in self.viewer.layers]
        for n in others:
            self.viewer.layers[n].visible = False
        self.viewer.layers[name].visible = True
        result_view(self.viewer).show([self.viewer.layers[name]], f"stylegan2 {what}")

    def save(self) -> None:
        folder = self.save_dir.value
        if not folder or str(folder) in ("", "."):
            self._message("Choose a folder to save to.", error=True)
            return
        edit = self.edit()
        if self._last is not None and self._last[0] == edit:
            self._write(edit, self._last[1])
            return
        from ..stylegan2.explore import render

        s, d = self.sampler, self.directions.get(self.cls.currentText() or None)
        self._run("save", lambda ctx: render(s, edit, d), edit)

    def _write(self, edit, image) -> None:
        from ..io.atomic import write_npy_with_sidecar

        folder = Path(self.save_dir.value)
        directions = self.directions.get(edit.cls)
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"stylegan2_seed{edit.seed}_{len(list(folder.glob('stylegan2_seed*.npy'))):04d}"
        write_npy_with_sidecar(folder, stem, image, edit.sidecar(self.sampler, directions))
        self._message(f"Saved {stem}.npy and {stem}.json in {folder}.")


def _spin(box, low, high, value, step, tip):
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    box.setToolTip(tip)
    return box
