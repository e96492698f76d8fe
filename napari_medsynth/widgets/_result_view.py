"""2-D results in their own view, and the user's view of the scan given back afterwards.

The SAGE result, the Label → MR pair and the training preview are 2-D images. Added to a viewer
that shows a 3-D case they sat small in a corner of the scan, at the scan's zoom. A
:class:`ResultView` shows them in a view of their own instead: it remembers the user's view
(which layers are visible, 2-D/3-D display, the slice, the camera, grid mode, the selection),
hides every other layer, switches to 2-D with the grid off and zooms to fit the result (what it
shows: the brain of a slice, not the black frame it is padded with).
:meth:`ResultView.restore` gives the remembered view back exactly; it runs

* from the "Back to the scan" button each panel shows (:func:`back_button`);
* by itself when the result's layers are deleted, or when the user turns on a layer of the scan
  (its eye in the layer list: the user chose the volume again, and that layer stays on).

Turning a hidden result layer on again shows its result in its own view again.

One view per viewer is shared by all panels (:func:`result_view`): going from the SAGE result to
the Label → MR pair and back gives the scan, not the SAGE result.

Why not a second napari window: one window keeps the layer list, the docks and the shortcuts in
one place, the results stay in the layer list the user already knows, nothing has to be kept in
sync between two viewers, and a second viewer costs another GL canvas and its start-up.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import QPushButton

from ._clean_layout import camera_of, canvas_size, grid_of

BACK_TEXT = "Back to the scan"
#: The result fills this fraction of the canvas along its tighter axis.
FILL = 0.92


def _real(obj):
    """The napari object behind the proxy napari hands plugins (identity checks need it)."""
    return getattr(obj, "__wrapped__", obj)


@dataclass
class _Saved:
    """The user's view, as it was before the first result was shown."""

    visible: dict  # id(layer) -> (layer, visible)
    ndisplay: int
    step: tuple
    camera: tuple  # center, zoom, angles
    grid: bool
    selection: list


class ResultView(QObject):
    """Show groups of 2-D result layers in their own view of ``viewer`` and restore the view after."""

    #: True while a result is shown in its own view, False once the user's view is back.
    changed = Signal(bool)

    def __init__(self, viewer):
        super().__init__()
        self._viewer = weakref.ref(viewer)
        self._saved: _Saved | None = None
        self.current: str | None = None  # the group shown
        self._groups: dict[int, tuple[weakref.ref, str]] = {}  # id(layer) -> (layer, group name)
        self._quiet = 0  # >0 while this view changes visibilities itself
        self._check_pending = False
        self._before_insert: list | None = None  # the selection before the panel added its layers
        viewer.layers.events.inserted.connect(self._inserted)
        viewer.layers.events.removed.connect(self._removed)
        for layer in viewer.layers:
            layer.events.visible.connect(self._visibility)

    @property
    def viewer(self):
        return self._viewer()

    @property
    def showing(self) -> bool:
        """Whether a result is shown in its own view (the user's view is remembered)."""
        return self._saved is not None

    def group_of(self, layer) -> str | None:
        entry = self._groups.get(id(_real(layer)))
        return entry[1] if entry is not None and entry[0]() is _real(layer) else None

    def group_layers(self, group: str) -> list:
        viewer = self.viewer
        return [] if viewer is None else [layer for layer in viewer.layers if self.group_of(layer) == group]

    def showing_group(self, group: str) -> bool:
        return self.showing and self.current == group

    # --- showing and restoring ---------------------------------------------------------------------
    def show(self, layers: Iterable, group: str, fit: bool = True) -> None:
        """Show ``layers`` (one result, named ``group``) alone in 2-D, zoomed to fit them with ``fit``."""
        viewer = self.viewer
        if viewer is None:
            return
        present = {id(layer): layer for layer in viewer.layers}
        wanted = [_real(layer) for layer in layers if layer is not None and id(_real(layer)) in present]
        if not wanted:
            return
        for layer in wanted:
            self._groups[id(layer)] = (weakref.ref(layer), group)
        keep = {id(layer) for layer in wanted}
        self._quiet += 1
        try:
            if self._saved is None:
                selection = self._before_insert if self._before_insert is not None else viewer.layers.selection
                self._saved = _snapshot(viewer, keep, [layer for layer in selection if id(layer) not in keep])
            for layer in viewer.layers:
                if layer.visible != (id(layer) in keep):
                    layer.visible = id(layer) in keep
            grid_of(viewer).enabled = False
            viewer.dims.ndisplay = 2
            if fit:
                fit_to(viewer, wanted)
            self.current = group
        finally:
            self._quiet -= 1
        self.changed.emit(True)

    def restore(self) -> None:
        """The user's view as it was before the first result: layers, display, slice, camera, grid."""
        saved, self._saved, self.current = self._saved, None, None
        viewer = self.viewer
        if saved is None or viewer is None:
            return
        self._quiet += 1
        try:
            for layer in viewer.layers:
                if self.group_of(layer) is not None:
                    want = False  # a result drawn over the scan's corner is what this view avoids
                elif id(layer) in saved.visible and saved.visible[id(layer)][0] is layer:
                    want = saved.visible[id(layer)][1]
                else:
                    continue  # added while the result was shown: left as it is
                if layer.visible != want:
                    layer.visible = want
            viewer.dims.ndisplay = saved.ndisplay
            if len(saved.step) == len(viewer.dims.current_step):
                viewer.dims.current_step = saved.step
            grid_of(viewer).enabled = saved.grid
            camera = camera_of(viewer)
            camera.center, camera.zoom, camera.angles = saved.camera
            present = [layer for layer in saved.selection if layer in viewer.layers]
            viewer.layers.selection.clear()
            viewer.layers.selection.update(present)  # one layer: it is the active one again
            select_visible(viewer)
        finally:
            self._quiet -= 1
        self.changed.emit(False)

    # --- the user's own moves ------------------------------------------------------------------------
    def _inserted(self, event) -> None:
        event.value.events.visible.connect(self._visibility)
        if self._before_insert is None and not self.showing:
            # napari makes a new layer the selection; the user's own is the one before the first new layer
            self._before_insert = list(self.viewer.layers.selection)
            QTimer.singleShot(0, self._forget_insert)

    def _forget_insert(self) -> None:
        self._before_insert = None

    def _removed(self, event) -> None:
        self._groups.pop(id(event.value), None)
        if self.showing and not self._check_pending:
            # checked once the panel is done: replacing a result layer removes it, then adds the new one
            self._check_pending = True
            QTimer.singleShot(0, self._after_removal)

    def _after_removal(self) -> None:
        self._check_pending = False
        viewer = self.viewer
        if self.showing and viewer is not None and \
                not any(layer.visible and self.group_of(layer) is not None for layer in viewer.layers):
            self.restore()

    def _visibility(self, event) -> None:
        layer = event.source
        if self._quiet or not layer.visible or layer not in (self.viewer.layers if self.viewer else ()):
            return
        group = self.group_of(layer)
        if group is None and self.showing:
            self.restore()  # the user turned a layer of the scan on: back to the scan, that layer on
            if not layer.visible:
                layer.visible = True
        elif group is not None and group != self.current:
            self.show(self.group_layers(group), group)  # another result's eye: that result, in its own view


def _snapshot(viewer, keep: set[int], selection: list) -> _Saved:
    camera = camera_of(viewer)
    return _Saved(visible={id(layer): (layer, layer.visible) for layer in viewer.layers if id(layer) not in keep},
                  ndisplay=viewer.dims.ndisplay, step=tuple(viewer.dims.current_step),
                  camera=(tuple(camera.center), camera.zoom, tuple(camera.angles)), grid=grid_of(viewer).enabled,
                  selection=selection)


def _box(layer, content: bool) -> np.ndarray | None:
    """(2, 2) world bounds [lo, hi] of (rows, columns) that ``layer`` shows, pixel edges included. With
    ``content``, of a 2-D image or label map only its pixels above the background (the brain of a
    padded slice, not its black frame; an empty label map adds nothing); else the layer's extent."""
    box = np.asarray(layer.extent.world, float)[:, -2:]
    if not np.isfinite(box).all():
        return None  # e.g. a Points layer with no points yet
    half = 0.5 * np.asarray(layer.extent.step[-2:], float)
    data, kind = getattr(layer, "data", None), type(layer).__name__
    if content and kind in ("Image", "Labels") and isinstance(data, np.ndarray) and data.ndim == 2 \
            and not getattr(layer, "rgb", False):
        mask = data != 0 if kind == "Labels" else data > np.nanmin(data)
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if not len(rows):
            return None if kind == "Labels" else np.array([box[0] - half, box[1] + half])
        scale, translate = np.asarray(layer.scale[-2:], float), np.asarray(layer.translate[-2:], float)
        box = np.array([[rows[0], cols[0]], [rows[-1], cols[-1]]], float) * scale + translate
        half = 0.5 * scale
    return np.array([box[0] - half, box[1] + half])


def fit_box(layers) -> tuple[np.ndarray, np.ndarray]:
    """World (rows, columns) bounds [lo, hi] of what ``layers`` show (their extents if they show
    nothing; NaN where there is nothing at all, e.g. only an empty Points layer)."""
    for content in (True, False):
        boxes = [b for b in (_box(layer, content) for layer in layers) if b is not None]
        if boxes:
            return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)
    return np.full(2, np.nan), np.full(2, np.nan)


def fit_to(viewer, layers) -> None:
    """Centre the 2-D camera on what ``layers`` show and zoom so it fills the canvas (``viewer.reset_view
    (layers=)`` cannot: it fails for 2-D layers in a viewer whose dims are 3-D, and fits black frames too)."""
    lo, hi = fit_box(layers)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        return  # nothing to fit to yet
    size = np.maximum(hi - lo, 1e-6)
    camera = camera_of(viewer)
    camera.center = tuple((lo + hi) / 2)
    camera.zoom = FILL * float(np.min(np.asarray(canvas_size(viewer)) / size))


_VIEWS: dict[int, ResultView] = {}


def result_view(viewer) -> ResultView:
    """The one :class:`ResultView` of ``viewer`` (napari's proxy or the viewer itself)."""
    real = _real(viewer)
    view = _VIEWS.get(id(real))
    if view is None or view.viewer is not real:
        view = _VIEWS[id(real)] = ResultView(real)
        weakref.finalize(real, _VIEWS.pop, id(real), None)
    return view


def back_button(viewer) -> QPushButton:
    """A "Back to the scan" button: enabled while a result is shown in its own view."""
    view = result_view(viewer)
    button = QPushButton(BACK_TEXT)
    button.setToolTip("Show the layers, slice and zoom you had before the result appeared")
    button.clicked.connect(lambda *_: view.restore())
    view.changed.connect(button.setEnabled)
    button.setEnabled(view.showing)
    return button


def select_visible(viewer) -> None:
    """If the active layer is hidden (the sample cases' ``_labels7``), make a visible one active instead,
    a visible label layer first, so the brush never paints on a layer nobody sees."""
    active = viewer.layers.selection.active
    if active is None or active.visible:
        return
    shown = [layer for layer in reversed(viewer.layers) if layer.visible]
    if not shown:
        return
    labels = [layer for layer in shown if type(_real(layer)).__name__ == "Labels"]
    viewer.layers.selection.active = (labels or shown)[0]
