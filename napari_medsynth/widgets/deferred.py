"""Panels that open at once: heavy modules load off the GUI thread, then the panel is built.

Several panels need PyTorch, MONAI, scikit-learn or SciPy's signal and statistics packages;
importing them on the GUI thread froze napari for seconds the first time a panel opened. The
napari manifest therefore names the factories below: each returns a :class:`DeferredPanel` that
shows "Loading …" at once, imports the panel's module in a background :class:`~..jobs.Job`
(the import lock makes that safe), optionally runs the module's ``preload()`` there too (the
Label → MR panel loads its shipped models so), and builds the real panel on the GUI thread when
that is done, which then takes milliseconds because every module is cached and every model read.

The real panel sits in a scroll area, so a tall panel fits a 1400×1000 screen instead of growing
the window. Attribute access falls through to the real panel once it is built
(``panel.start_button`` is the Train panel's button), and :attr:`DeferredPanel.ready` says when.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from qtpy.QtCore import QSize, Qt
from qtpy.QtWidgets import QLabel, QProgressBar, QScrollArea, QVBoxLayout, QWidget

from ..jobs import Job
from ._jobs import JobRunner

if TYPE_CHECKING:
    import napari

#: The tallest a panel asks to be (px): below the 1000 px screen minus napari's menu, status bar
#: and dock title; taller content scrolls.
MAX_HINT_HEIGHT = 820


def _import_module(module: str, also: tuple[str, ...], preload: bool = False) -> dict:
    """Import ``module`` (after ``also``); with ``preload``, the keyword arguments its ``preload()``
    returns for the panel's constructor."""
    for name in also:
        if name == "torch":
            _warm_torch()
        else:
            importlib.import_module(name)
    loaded = importlib.import_module(module)
    return dict(loaded.preload()) if preload else {}


def _warm_torch() -> None:
    """Import PyTorch and the parts it imports lazily on first use: building a network on the
    ``meta`` device (how checkpoints are checked before loading) pulls in hundreds of modules the
    first time, which would otherwise happen on the GUI thread when the panel loads its model."""
    import torch

    torch.randn(2, 2, device="meta")
    torch.nn.Conv2d(2, 2, 3, device="meta")


class DeferredPanel(QWidget):
    """A "Loading …" panel that becomes panel ``module:cls_name`` once its imports are done."""

    def __init__(self, viewer: napari.viewer.Viewer, module: str, cls_name: str, title: str,
                 also: tuple[str, ...] = (), preload: bool = False):
        super().__init__()
        self.viewer = viewer
        self._module, self._cls_name, self._title = module, cls_name, title
        self.inner: QWidget | None = None
        self.error: str | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._status = QLabel(f"Loading the {title} panel …")
        self._status.setWordWrap(True)
        self._busy = QProgressBar()
        self._busy.setRange(0, 0)  # indeterminate
        self._layout.addWidget(self._status)
        self._layout.addWidget(self._busy)
        self._layout.addStretch(1)
        self._runner = JobRunner(self, interval_ms=30)
        self._runner.succeeded.connect(self._build)
        self._runner.failed.connect(self._failed)
        self._runner.start(Job(lambda ctx: _import_module(module, also, preload),
                               name=f"napari-medsynth-load-{cls_name}"))

    @property
    def ready(self) -> bool:
        return self.inner is not None

    def _build(self, kwargs: dict) -> None:
        try:
            cls = getattr(importlib.import_module(self._module), self._cls_name)
            inner = cls(self.viewer, **kwargs)
        except Exception as exc:  # shown in the panel; napari goes on
            self._failed(f"{type(exc).__name__}: {exc}")
            return
        for w in (self._status, self._busy):
            self._layout.removeWidget(w)
            w.deleteLater()
        while self._layout.count():
            self._layout.takeAt(0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        scroll.setWidget(inner)
        self._layout.addWidget(scroll)
        self.inner = inner
        self.updateGeometry()

    def _failed(self, message: str) -> None:
        self.error = message
        self._busy.setVisible(False)
        self._status.setStyleSheet("color: #e06c6c")
        self._status.setText(f"The {self._title} panel could not be loaded: {message}")

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        if self.inner is None:
            return QSize(420, 120)
        hint = self.inner.sizeHint()
        return QSize(hint.width() + 20, min(hint.height(), MAX_HINT_HEIGHT))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        if self.inner is None:
            return QSize(200, 80)
        hint = self.inner.minimumSizeHint()
        return QSize(hint.width() + 20, min(hint.height(), 240))

    def __getattr__(self, name: str):
        # only reached for names this loading panel itself lacks: the real panel's attributes
        inner = self.__dict__.get("inner")
        if inner is not None:
            return getattr(inner, name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r} (the panel is still loading)")


class TrainPanel(DeferredPanel):
    """The Train panel, loaded off the GUI thread."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, "napari_medsynth.widgets.train", "TrainWidget", "Train", ("torch",))


class SageStudioPanel(DeferredPanel):
    """The SAGE studio, loaded off the GUI thread."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, "napari_medsynth.widgets.sage_studio", "SageStudioWidget", "SAGE studio",
                         ("torch",))


class StudyResultsPanel(DeferredPanel):
    """The Reader study results panel, loaded off the GUI thread."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, "napari_medsynth.widgets.study_results", "StudyResultsWidget",
                         "Reader study results")


class CropsPanel(DeferredPanel):
    """The Tumor crops panel, loaded off the GUI thread."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, "napari_medsynth.widgets.crops", "TumorCropsWidget", "Tumor crops")


class EvaluatePanel(DeferredPanel):
    """The Evaluate synthetic images panel, loaded off the GUI thread."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, "napari_medsynth.widgets.evaluate", "EvaluateWidget",
                         "Evaluate synthetic images", ("torch",))


class LabelToMRPanel(DeferredPanel):
    """The Label → MR panel, loaded off the GUI thread."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, "napari_medsynth.widgets.label_to_mr", "LabelToMRWidget", "Label → MR",
                         ("torch",), preload=True)
