"""Label → MR panel: paint a 7-class label map and watch the SPADE renderer turn it into MR.

A thin view over :mod:`napari_medsynth.spade`: the map is a napari Labels layer ("label map")
with the 7 named classes and their fixed colours; the rendered MR is an image layer placed to
its right, so both are seen side by side at the same scale. Every edit restarts a short
debounce timer; when painting pauses, the map is handed to a
:class:`~napari_medsynth.spade.live.LiveRenderer`, a background job that renders only the
newest map, and the panel's :class:`~._jobs.JobRunner` delivers the result. Painting therefore
never waits for the model. The groups of controls are in :mod:`._l2m_controls`. The pair is
shown in its own view (:mod:`._result_view`); "Back to the scan" returns to the source volume.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
from napari.layers import Labels
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from ..spade.label_maps import CANVAS, LabelMapError, map_from_volume, template_map, validate_map
from ..spade.live import LIVE, STYLES, LiveRenderer, RenderResult
from ..spade.pairs import provenance, save_pair
from ._class_palette import ClassPalette
from ._jobs import JobRunner
from ._l2m_controls import (
    ALL_SEQUENCES,
    SEQUENCE_NAMES,
    RenderControls,
    SaveControls,
    StartControls,
    model_field,
    show_shipped,
)
from ._pair_layers import GAP, OWN_LAYERS, PairLayers, tile_grid
from ._result_view import back_button, select_visible

if TYPE_CHECKING:
    import napari

#: Quiet time after the last brush event before the map is rendered.
DEBOUNCE_MS = 200
#: How often finished renders are collected while the worker is busy.
POLL_MS = 40


def _load_renderer(path):
    from ..spade.render import SpadeRenderer

    return SpadeRenderer.load(path)


def _load_sampler(path):
    from ..pggan.sample import LabelMapSampler

    return LabelMapSampler.load(path)


def preload() -> dict:
    """The shipped renderer and label sampler, read off the GUI thread when the panel opens (see
    :mod:`.deferred`); one that does not load is left out, and the panel then tries it itself and
    says why it failed."""
    models = {}
    for key, load in (("renderer", _load_renderer), ("sampler", _load_sampler)):
        try:
            models[key] = load(None)
        except Exception:  # noqa: BLE001 - reported by the panel's own attempt
            pass
    models["shipped"] = True
    return models


def _model_name(model, path) -> str:
    name = str(path) if path else "shipped checkpoint"
    sha = getattr(model, "sha256", "") or ""
    modalities = getattr(model, "modalities", None)
    if modalities:  # a renderer: it draws on the map's own grid
        names = "/".join(SEQUENCE_NAMES.get(m, m) for m in modalities)
        return f"{name} (sha256 {sha[:10]}…, {names} at the map's resolution)"
    return f"{name} (sha256 {sha[:10]}…, {model.size} px)"


def tile_sequences(images: np.ndarray, gap: int = GAP) -> np.ndarray:
    """(M, H, W) sequences as one image: two per row, ``gap`` pixels apart."""
    return tile_grid(images, 2, gap)[0]


class LabelToMRWidget(QWidget):
    def __init__(self, napari_viewer: napari.viewer.Viewer, renderer=None, sampler=None, shipped: bool = False):
        """``renderer`` / ``sampler``: models already loaded (None: load the shipped ones here);
        ``shipped``: they are the shipped ones, so the empty file fields say so."""
        super().__init__()
        self.viewer = napari_viewer
        self.renderer = None
        self.sampler = None
        self.live: LiveRenderer | None = None
        self._source: dict = {"source": "drawn", "template": "brain outline"}
        self._start_map: np.ndarray | None = None  # the map as created, to tell whether it was edited
        self._requested: tuple | None = None  # (labels, seed) of the newest live request
        self._last: RenderResult | None = None
        self.layers = PairLayers(napari_viewer, self.schedule_render, self._sync_class_buttons)
        self._renderer_name = ""
        self._sampler_name = ""
        self._sampler_error = ""
        self._chosen_source = ""
        self._build()
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.render_now)
        self.runner = JobRunner(self, POLL_MS, close_wait=2.0, idle_ms=500)
        self.runner.events.connect(self._results)
        self.viewer.layers.events.inserted.connect(self._refresh_sources)
        self.viewer.layers.events.removed.connect(self._refresh_sources)
        self._refresh_sources()
        self.set_renderer(renderer) if renderer is not None else self.load_renderer()
        self.set_sampler(sampler) if sampler is not None else self.load_sampler()
        if shipped:
            for field, model in ((self.renderer_file, renderer), (self.sampler_file, sampler)):
                if model is not None:
                    show_shipped(field, True)
        select_visible(self.viewer)  # the sample cases leave the hidden _labels7 active: not for the brush

    # --- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.model_info = QLabel()
        self.model_info.setWordWrap(True)
        self.renderer_file = model_field("Renderer", "SPADE checkpoint (.pt); empty: the shipped one")
        self.sampler_file = model_field("Label sampler", "PGGAN label-map checkpoint (.pt); empty: the shipped one")
        self.renderer_file.changed.connect(lambda *_: self.load_renderer())
        self.sampler_file.changed.connect(lambda *_: self.load_sampler())

        start, render, save = StartControls(), RenderControls(), SaveControls()
        self.render_box = render
        for name in ("blank_button", "sample_button", "sample_seed", "source_combo", "slice_button", "source_info"):
            setattr(self, name, getattr(start, name))
        for name in ("sequence", "style_seed", "k_styles", "styles_button"):
            setattr(self, name, getattr(render, name))
        self.sequence.currentIndexChanged.connect(lambda *_: self._show_last())
        for name in ("save_dir", "stem", "save_button"):
            setattr(self, name, getattr(save, name))
        self.source_combo.activated.connect(lambda *_: setattr(self, "_chosen_source",
                                                                self.source_combo.currentText()))
        self.blank_button.clicked.connect(self.new_blank_map)
        self.sample_button.clicked.connect(self.sample_map)
        self.slice_button.clicked.connect(self.map_from_layer)
        self.style_seed.valueChanged.connect(lambda *_: self.schedule_render())
        self.styles_button.clicked.connect(self.render_styles)
        self.save_button.clicked.connect(self.save)

        paint = ClassPalette()
        self.class_buttons = paint.group
        paint.group.idClicked.connect(self._class_clicked)

        self.status = QLabel()
        self.status.setWordWrap(True)
        files = QFormLayout()
        files.addRow("Renderer", self.renderer_file.native)
        files.addRow("Label sampler", self.sampler_file.native)
        layout = QVBoxLayout(self)
        layout.addLayout(files)
        layout.addWidget(self.model_info)
        self.back_button = back_button(self.viewer)
        for box in (start, self.back_button, paint, render, save):
            layout.addWidget(box)
        layout.addWidget(self.status)
        layout.addStretch(1)

    # --- models -----------------------------------------------------------------------------------
    def load_renderer(self) -> None:
        path = self.renderer_file.value or None
        try:
            self.set_renderer(_load_renderer(path), path)
            show_shipped(self.renderer_file, True)
        except Exception as exc:  # missing/corrupt checkpoint: the panel says so, napari goes on
            self.set_renderer(None)
            show_shipped(self.renderer_file, path is not None)
            self._message(f"No renderer: {_first_line(exc)}. Train one (Train panel, SPADE recipe) "
                          "or choose a checkpoint file above.", error=True)

    def set_renderer(self, renderer, path=None) -> None:
        if self.live is not None:
            self.live.close(wait=2.0)
            self.live = None
        self.renderer = renderer
        self._last = None
        self._requested = None
        if renderer is not None:
            self.render_box.set_sequences(self._modalities(), getattr(renderer, "modality", "t1ce"))
            self.live = LiveRenderer(renderer)
            self.runner.start(self.live.job, replace=True)  # the previous renderer's results are stale
            self._renderer_name = _model_name(renderer, path)
            self._message(f"Renderer: {self._renderer_name}. Start from a map, then paint.")
        self._update_model_info()
        self._enable()
        if renderer is not None and self.layers.labels is not None:
            self.schedule_render(now=True)

    def load_sampler(self) -> None:
        path = self.sampler_file.value or None
        try:
            self.set_sampler(_load_sampler(path), path)
            show_shipped(self.sampler_file, True)
        except Exception as exc:
            self.set_sampler(None)
            show_shipped(self.sampler_file, path is not None)
            self._sampler_error = _first_line(exc)
            self._update_model_info()

    def set_sampler(self, sampler, path=None) -> None:
        self.sampler = sampler
        self._sampler_error = ""
        self._sampler_name = _model_name(sampler, path) if sampler is not None else ""
        self._update_model_info()
        self._enable()

    def _update_model_info(self) -> None:
        lines = [f"Renderer: {self._renderer_name}" if self.renderer is not None else "Renderer: none loaded"]
        if self.sampler is not None:
            lines.append(f"Label sampler: {self._sampler_name}")
        else:
            lines.append(f"Label sampler: none ({getattr(self, '_sampler_error', '') or 'not loaded'})")
        self.model_info.setText("\n".join(lines))

    def _enable(self) -> None:
        ok = self.renderer is not None
        for w in (self.blank_button, self.slice_button, self.source_combo, self.sequence, self.style_seed,
                  self.k_styles, self.styles_button, self.save_button):
            w.setEnabled(ok)
        for b in self.class_buttons.buttons():
            b.setEnabled(ok)
        self.sample_button.setEnabled(ok and self.sampler is not None)
        self.sample_seed.setEnabled(ok and self.sampler is not None)

    @property
    def size(self) -> int:
        """Side of the label map: the 256-pixel canvas of the training slices (1 mm pixels for
        BraTS), whatever the model's resolution: the renderer draws on this grid, and a label
        sampler's class logits are upsampled to it."""
        return CANVAS

    # --- starting maps --------------------------------------------------------------------------
    def new_blank_map(self) -> None:
        self._set_map(template_map(self.size), {"source": "drawn", "template": "brain outline"},
                      "Brain outline: pick a class below and paint (e.g. ET, then NCR/NET inside, ED around).")

    def sample_map(self) -> None:
        if self.sampler is None:
            return
        seed = self.sample_seed.value()
        try:
            sampled = self.sampler.sample(1, seed, size=self.size)[0]
            labels = validate_map(sampled)
        except Exception as exc:
            self._message(f"Sampling failed: {_first_line(exc)}", error=True)
            return
        self._set_map(labels, {"source": "pggan", "sampler_seed": seed},
                      f"PGGAN label map, seed {seed}. Paint to edit it.")

    def map_from_layer(self) -> None:
        layer = self._source_layer()
        if layer is None:
            self.source_info.setText("Open a label layer first (e.g. File > Open Sample > Brain MR with "
                                     "simulated glioma, or a BraTS case folder).")
            return
        ndim = layer.ndim
        index = 0
        if ndim == 3:
            point = self.viewer.dims.point[-ndim:]
            index = int(np.round(layer.world_to_data(point)[0]))
        names = list(layer.features["class"]) if "class" in getattr(layer, "features", {}) else None
        try:
            sm = map_from_volume(np.asarray(layer.data), index, self.size, names)
        except LabelMapError as exc:
            self.source_info.setText(f"{layer.name}: {exc}")
            return
        info = (layer.metadata.get("medsynth") or {}) if isinstance(layer.metadata, dict) else {}
        note = f"{layer.name}, slice {sm.slice_index}" + ("".join(f"; {n}" for n in sm.notes))
        self._set_map(sm.labels, {"source": "volume", "volume_path": info.get("path") or None,
                                  "layer_name": layer.name, "slice_index": sm.slice_index}, note + ".")

    def _source_layer(self) -> Labels | None:
        name = self.source_combo.currentText()
        if name and name in self.viewer.layers:
            layer = self.viewer.layers[name]
            return layer if isinstance(layer, Labels) else None
        return None

    def _refresh_sources(self, *_args) -> None:
        current = self.source_combo.currentText()
        names = [layer.name for layer in self.viewer.layers
                 if isinstance(layer, Labels) and layer.name not in OWN_LAYERS]
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        self.source_combo.addItems(names)
        prefer = [n for n in names if n.endswith("_labels7")] or [n for n in names if n.endswith("_seg")]
        # a complete map beats a BraTS segmentation, unless the person picked one
        pick = current if current in names and current == self._chosen_source else (prefer or [current])[0]
        if pick:
            self.source_combo.setCurrentText(pick)
        self.source_combo.blockSignals(False)
        self.layers.forget_removed()

    def _set_map(self, labels: np.ndarray, source: dict, note: str) -> None:
        if self.renderer is None:
            self._message("Load a renderer checkpoint first.", error=True)
            return
        self._source = source
        self._start_map = labels.copy()
        self._requested = None
        self.source_info.setText(note)
        layer = self.layers.set_map(labels)
        self.viewer.layers.selection.active = layer
        layer.mode = "paint"
        self.schedule_render(now=True)

    # --- rendering ------------------------------------------------------------------------------
    def schedule_render(self, now: bool = False) -> None:
        """Render the current map after DEBOUNCE_MS of quiet (at once with ``now``)."""
        if self.live is None or self.layers.labels is None:
            return
        if now:
            self._debounce.stop()
            self.render_now()
        else:
            self._debounce.start()  # restarts: a brush stroke renders once it pauses

    def _seed(self) -> int | None:
        return self.render_box.seed()

    def render_now(self) -> None:
        if self.live is None or self.layers.labels is None:
            return
        try:
            labels = validate_map(self.layers.labels.data)
        except LabelMapError as exc:
            self._message(str(exc), error=True)
            return
        wanted = (labels, self._seed())
        if self._requested is not None and self._requested[1] == wanted[1] \
                and np.array_equal(self._requested[0], labels):
            return  # a redraw (e.g. a slider move), not an edit: the MR already shows this map
        self._requested = wanted
        self.live.request(labels, wanted[1])
        self.runner.poke()
        self._message(f"Rendering… (renderer {self._renderer_name})")

    def render_styles(self) -> None:
        if self.live is None or self.layers.labels is None:
            self._message("Start from a map first.", error=True)
            return
        first = max(0, self.style_seed.value())
        seeds = list(range(first, first + self.k_styles.value()))
        chosen = self.render_box.chosen_sequence()
        modality = None if chosen in (None, ALL_SEQUENCES) else chosen  # "all": the default sequence
        self.live.request_styles(validate_map(self.layers.labels.data), seeds, modality)
        self.runner.poke()
        self._message(f"Rendering {len(seeds)} styles (seeds {seeds[0]}–{seeds[-1]})…")

    def _results(self, results: list) -> None:
        for r in results:
            if not isinstance(r, RenderResult) or r.kind not in (LIVE, STYLES):
                continue
            if not r.ok:
                self._message(f"Rendering failed: {r.error}", error=True)
            elif r.kind == LIVE:
                self._last = r
                self._show_last()
                self._message(f"Rendered in {r.render_ms:.0f} ms · renderer {self._renderer_name}")
            else:
                self.layers.show_styles(r.images, r.seeds)
                self._message(f"{len(r.seeds)} styles (seeds {r.seeds[0]}–{r.seeds[-1]}) in "
                              f"{r.render_ms:.0f} ms, below the pair.")

    def _modalities(self) -> list[str]:
        return list(getattr(self.renderer, "modalities", None) or ["t1ce"])

    def shown_image(self, images: np.ndarray) -> np.ndarray:
        """What the MR layer shows of a live render: the chosen sequence, or all of them tiled."""
        if images.ndim == 2:
            return images
        chosen = self.render_box.chosen_sequence()
        if chosen == ALL_SEQUENCES:
            return tile_sequences(images)
        names = self._modalities()
        return images[names.index(chosen) if chosen in names else 0]

    def _show_last(self) -> None:
        if self._last is not None and self._last.ok and self._last.images is not None:
            self.layers.show_mr(self.shown_image(self._last.images))

    # --- saving ---------------------------------------------------------------------------------
    def save(self) -> None:
        if self.layers.labels is None or self._last is None:
            self._message("Nothing to save yet: start from a map and let it render.", error=True)
            return
        if self.save_dir.value is None or not str(self.save_dir.value).strip() or str(self.save_dir.value) == ".":
            self._message("Choose a folder to save the pair in.", error=True)
            return
        current = np.asarray(self.layers.labels.data)
        if (self._debounce.isActive() or self.live.busy or self._last.seeds != (self._seed(),)
                or not np.array_equal(self._last.labels, current)):
            self._message("The MR is still being rendered for the latest edit; save again in a moment.",
                          error=True)
            return
        src = dict(self._source)
        kind = src.pop("source")
        prov = provenance(kind, self.renderer, self._seed(), sampler=self.sampler if kind == "pggan" else None,
                          edited=not np.array_equal(self._start_map, self._last.labels),
                          renderer_checkpoint=_checkpoint_name(self.renderer_file.value, "spade"),
                          sampler_checkpoint=_checkpoint_name(self.sampler_file.value, "pggan-labels"), **src)
        try:
            images = self._last.images
            modalities = self._modalities() if images.ndim == 3 else [getattr(self.renderer, "modality", "t1ce")]
            paths = save_pair(self.save_dir.value, self.stem.text(), self._last.labels, images, prov,
                              modalities=modalities)
        except (ValueError, OSError) as exc:
            self._message(f"Not saved: {_first_line(exc)}", error=True)
            return
        self._message(f"Saved the pair in {paths['labels'].parent}")
        self.stem.setText(_next_stem(self.stem.text()))

    # --- small things ---------------------------------------------------------------------------
    def _class_clicked(self, value: int) -> None:
        if self.layers.labels is None:
            return
        self.layers.labels.selected_label = value
        self.layers.labels.mode = "paint"
        self.viewer.layers.selection.active = self.layers.labels

    def _sync_class_buttons(self, *_args) -> None:
        if self.layers.labels is None:
            return
        b = self.class_buttons.button(int(self.layers.labels.selected_label))
        if b is not None:
            b.setChecked(True)

    def _message(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color: #ff6b6b;" if error else "")
        self.status.setText(text)


def _checkpoint_name(path, shipped: str) -> str:
    return str(path) if path else f"shipped:{shipped}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _next_stem(stem: str) -> str:
    """SYN-0001 -> SYN-0002; a name without a trailing number gets -2."""
    m = re.search(r"(\d+)$", stem)
    if not m:
        return f"{stem}-2"
    return stem[:m.start()] + str(int(m.group(1)) + 1).zfill(len(m.group(1)))
