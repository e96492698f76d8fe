"""Reading layout: everything but the image and the answer panel hidden, and put back afterwards.

A reader must see one stimulus and nothing else: not the layer list (it would show other layers'
names), not other panels, not the images loaded before the session. Everything hidden here is
recorded and restored exactly by :meth:`CleanLayout.restore`, together with the camera, the grid
mode, 2-D/3-D display and the slice sliders (hidden: a 2-D stimulus has no slices to move).
"""

from __future__ import annotations

from qtpy.QtWidgets import QDockWidget, QWidget


def camera_of(viewer):
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def grid_of(viewer):
    """The viewer's grid settings (``viewer.canvas.grid`` since napari 0.9, ``viewer.grid`` before)."""
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if canvas is not None and hasattr(canvas, "grid") else viewer.grid


def canvas_size(viewer) -> tuple[float, float]:
    """(height, width) of the viewer's canvas in screen pixels."""
    canvas = getattr(viewer, "canvas", None)
    size = canvas.size if canvas is not None and hasattr(canvas, "size") else viewer._canvas_size
    return float(size[0]), float(size[1])

class CleanLayout:
    """Hide other dock widgets and layers of ``viewer`` except the dock holding ``keep``."""

    def __init__(self, viewer, keep: QWidget):
        self.viewer = viewer
        own = keep
        while own is not None and not isinstance(own, QDockWidget):
            own = own.parentWidget()
        self.own_dock = own  # closing it ends the session (see ReaderSessionWidget)
        window = keep.window()  # the napari main window, found through Qt (no private napari API)
        self._docks = [(d, not d.isHidden()) for d in window.findChildren(QDockWidget) if d is not own]
        self._sliders = [(w, not w.isHidden()) for w in window.findChildren(QWidget) if type(w).__name__ == "QtDims"]
        self._layers = [(layer, layer.visible) for layer in viewer.layers]
        self._ndisplay = viewer.dims.ndisplay
        self._selection = set(viewer.layers.selection)
        cam = camera_of(viewer)
        self._camera = (cam.center, cam.zoom, cam.angles)
        self._grid = grid_of(viewer).enabled
        grid_of(viewer).enabled = False
        for widget, _ in self._docks + self._sliders:
            widget.setVisible(False)
        for layer, _ in self._layers:
            layer.visible = False
        viewer.dims.ndisplay = 2
        viewer.layers.selection.clear()

    def restore(self) -> None:
        for widget, was_visible in self._docks + self._sliders:
            try:
                widget.setVisible(was_visible)
            except RuntimeError:  # already deleted (the window is closing)
                pass
        for layer, was_visible in self._layers:
            if layer in self.viewer.layers:
                layer.visible = was_visible
        self.viewer.dims.ndisplay = self._ndisplay
        grid_of(self.viewer).enabled = self._grid
        cam = camera_of(self.viewer)
        cam.center, cam.zoom, cam.angles = self._camera
        self.viewer.layers.selection.update(layer for layer in self._selection if layer in self.viewer.layers)
