"""The layers of the Label → MR panel: the editable label map, its MR beside it, K styles below.

The MR sits to the right of the label map at the same scale and the K styles in a grid below them,
all to the right of whatever the viewer already shows. The pair is shown in its own view
(:mod:`._result_view`): the other layers hidden, 2-D, zoomed to fit the pair; "Back to the scan"
gives the view of the source volume back.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from napari.layers import Image, Labels

from .. import labels as vocab
from .._reader import labels_style
from ..spade.label_maps import CANVAS
from ._result_view import result_view

LABEL_LAYER = "label map"
MR_LAYER = "MR (rendered)"
STYLES_LAYER = "MR styles"
OWN_LAYERS = (LABEL_LAYER, MR_LAYER, STYLES_LAYER)
#: The pair's name in the shared result view.
PAIR_VIEW = "Label → MR pair"
#: Gap between the label map, the MR and the styles, in canvas pixels.
GAP = 12
#: Styles per row below the pair: as many as the pair is wide (the map and its MR).
STYLE_COLUMNS = 2


def tile_grid(images: np.ndarray, columns: int, gap: int = GAP) -> tuple[np.ndarray, int, int]:
    """(K, H, W) images as one image, ``columns`` per row (fewer if K is smaller), ``gap`` pixels
    of 0 apart, left to right then down; returns (grid, rows, columns)."""
    k, h, w = images.shape
    cols = min(k, columns)
    rows = -(-k // cols)
    grid = np.zeros((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap), np.float32)
    for i in range(k):
        r, c = divmod(i, cols)
        grid[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = images[i]
    return grid, rows, cols


class PairLayers:
    def __init__(self, viewer, on_edit: Callable[[], None], on_selected_label: Callable[[], None]):
        self.viewer = viewer
        self.labels: Labels | None = None
        self.mr: Image | None = None
        self._on_edit = on_edit
        self._on_selected_label = on_selected_label
        self._quiet = 0  # >0 while the panel itself replaces the map: not an edit

    def forget_removed(self) -> None:
        """Drop layers the person deleted; the next map or render creates them again."""
        if self.labels is not None and self.labels not in self.viewer.layers:
            self.labels = None
        if self.mr is not None and self.mr not in self.viewer.layers:
            self.mr = None

    def set_map(self, labels: np.ndarray) -> Labels:
        """Show ``labels`` in the label-map layer (created on first use), without counting as an edit,
        and the pair in its own view, zoomed to fit (a new map, so the previous styles are dropped)."""
        self._quiet += 1
        try:
            self.forget_removed()
            self.drop_styles()
            if self.labels is not None and self.labels.data.shape == labels.shape:
                self.labels.data = labels
            else:
                self._create_labels(labels)
            self.show()
            return self.labels
        finally:
            self._quiet -= 1

    def show(self, fit: bool = True) -> None:
        """The label map, its MR and the styles alone in the view (zoomed to fit them with ``fit``)."""
        result_view(self.viewer).show([self.labels, self.mr, self.styles()], PAIR_VIEW, fit=fit)
        self._keep_brush()

    def drop_styles(self) -> None:
        """Remove the style strip: it shows another map's styles once the map is replaced."""
        layer = self.styles()
        if layer is not None:
            self.viewer.layers.remove(layer)

    def _create_labels(self, labels: np.ndarray) -> None:
        if self.labels is not None:
            self.viewer.layers.remove(self.labels)
        scale = CANVAS / labels.shape[-1]
        right = [float(layer.extent.world[1][-1]) for layer in self.viewer.layers if layer.name not in OWN_LAYERS]
        x0 = max(right) + 2 * GAP if right else 0.0
        layer = Labels(labels, name=LABEL_LAYER, scale=(scale, scale), translate=(0, x0), opacity=1.0,
                       **labels_style(vocab.COMPLETE7))
        layer.brush_size = max(3, labels.shape[-1] // 24)
        layer.selected_label = 3
        # paint: end of a brush stroke or a fill; labels_update: each dab during a stroke;
        # set_data: undo / redo; data: the array replaced from a script
        for ev in (layer.events.paint, layer.events.labels_update, layer.events.set_data, layer.events.data):
            ev.connect(self._edited)
        layer.events.selected_label.connect(lambda *_: self._on_selected_label())
        self.viewer.layers.append(layer)
        self.labels = layer
        self._on_selected_label()
        self._place(self.mr, right_of_map=True)

    def _edited(self, *_args) -> None:
        if not self._quiet:
            self._on_edit()

    def _place(self, layer, right_of_map: bool) -> None:
        if layer is None or self.labels is None:
            return
        sy, sx = self.labels.scale[-2:]
        ty, tx = self.labels.translate[-2:]
        h, w = self.labels.data.shape[-2:]
        if not right_of_map and self.mr is not None and self.mr in self.viewer.layers:
            h = max(h, self.mr.data.shape[-2])  # below the MR too (all sequences are two rows)
        layer.scale = (sy, sx)
        layer.translate = (ty, tx + (w + GAP) * sx) if right_of_map else (ty + (h + GAP) * sy, tx)

    def show_mr(self, mr: np.ndarray) -> Image:
        self.forget_removed()
        if self.mr is not None and self.mr.data.shape == mr.shape:
            self.mr.data = mr
            return self.mr
        if self.mr is not None:
            self.viewer.layers.remove(self.mr)
        self.mr = Image(mr, name=MR_LAYER, colormap="gray", contrast_limits=(0.0, 1.0))
        self._place(self.mr, right_of_map=True)
        self.viewer.layers.insert(0, self.mr)  # under the map in the layer list
        self.show()
        return self.mr

    def styles(self) -> Image | None:
        layer = self.viewer.layers[STYLES_LAYER] if STYLES_LAYER in self.viewer.layers else None
        return layer if isinstance(layer, Image) else None

    def show_styles(self, images: np.ndarray, seeds) -> Image:
        """K renders in a grid below the pair, as wide as the pair (STYLE_COLUMNS per row), so the view
        that fits them all stays large; seeds run left to right, then down."""
        grid, rows, cols = tile_grid(images, STYLE_COLUMNS)
        layer = self.styles()
        if layer is None:
            layer = Image(grid, name=STYLES_LAYER, colormap="gray", contrast_limits=(0.0, 1.0))
            self.viewer.layers.insert(0, layer)
        else:
            layer.data = grid
        self._place(layer, right_of_map=False)
        layer.metadata["style_seeds"] = [int(s) for s in seeds]
        layer.metadata["style_grid"] = [rows, cols]
        self.show()
        return layer

    def _keep_brush(self) -> None:
        if self.labels is not None and self.labels.visible:
            self.viewer.layers.selection.active = self.labels
