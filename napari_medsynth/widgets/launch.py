"""Open napari with the plugin's dock widgets and a case loaded (the app's default view)."""

from __future__ import annotations

from pathlib import Path

#: Dock widgets opened by ``napari-medsynth`` with no arguments, in order: one tabbed dock on the
#: right, the MR volume panel in front. The heavy ones load off the GUI thread (widgets/deferred.py).
DEFAULT_WIDGETS = ("MR volume", "Label → MR", "SAGE studio", "Train")


def launch(paths: list[str] | None = None, run: bool = True):
    """Create a viewer, open ``paths`` (default: the real sample glioma TCGA-DU-7294) and dock the widgets."""
    import napari

    viewer = napari.Viewer(title="napari-medsynth")
    if paths:
        for p in paths:
            viewer.open(str(Path(p)), plugin="napari-medsynth")
    else:
        viewer.open_sample("napari-medsynth", "real_glioma")
    docks = [viewer.window.add_plugin_dock_widget("napari-medsynth", name, tabify=i > 0)[0]
             for i, name in enumerate(DEFAULT_WIDGETS)]
    from qtpy.QtCore import QTimer

    QTimer.singleShot(0, docks[0].raise_)  # the MR volume tab in front, once the tabs exist
    _select_visible_layer(viewer)
    _center_on_labels(viewer)
    if run:
        napari.run()
    return viewer


def _select_visible_layer(viewer) -> None:
    """Select the shown image, not the last layer opened (the hidden 7-class map), so tools act on
    what the user sees."""
    shown = [layer for layer in viewer.layers if layer.visible and type(layer).__name__ == "Image"]
    if shown:
        viewer.layers.selection.active = shown[0]


def _center_on_labels(viewer) -> None:
    """Move the axial slider to the slice with the most labelled voxels (the tumor, when there is one)."""
    import numpy as np

    for layer in viewer.layers:
        if type(layer).__name__ == "Labels" and layer.visible and layer.data.ndim == 3:
            counts = (np.asarray(layer.data) > 0).sum(axis=(1, 2))
            if counts.any():
                step = list(viewer.dims.current_step)
                step[0] = int(np.argmax(counts))
                viewer.dims.current_step = tuple(step)
            return
