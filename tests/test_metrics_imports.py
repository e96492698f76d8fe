"""The metrics package stays free of Qt and napari, and cheap to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import napari_medsynth.metrics as metrics


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return {m.split(".")[0] for m in out.split()}


def test_no_qt_or_napari_and_lazy_heavy_imports():
    mods = " ".join(sorted({m for m in metrics._EXPORTS.values()}))
    every = _loaded_after(f"import importlib\nfor m in '{mods}'.split(): "
                          "importlib.import_module('napari_medsynth.metrics.' + m)")
    assert not every & {"napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "vispy", "magicgui"}
    bare = _loaded_after("import napari_medsynth.metrics")
    assert not bare & {"torch", "sklearn", "scipy", "matplotlib"}


def test_every_export_resolves():
    for name in metrics.__all__:
        assert getattr(metrics, name) is not None
    with pytest.raises(AttributeError, match="no attribute"):
        _ = metrics.not_a_metric
