"""Reader session panel: one anonymous image at a time, big answer buttons, keyboard shortcuts.

All study logic (order, durability, resume, no revising) lives in
:class:`~napari_medsynth.reader_study.session.ReaderSession`; this panel only shows the current
stimulus and turns clicks and keys into answers. Keys: R real, F (or S) fake, T tumor,
N non-tumor, 1-5 confidence, B / Backspace back (where revising is allowed). They work whether
the panel or the image has the keyboard focus. Where a study asks several things, choices can be
changed freely until the last one is made; the answer is then saved and the next image shown.
"""

from __future__ import annotations

import time
from pathlib import Path

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ..reader_study.session import ReaderSession
from ..reader_study.study import StudyError
from ._clean_layout import CleanLayout, camera_of

#: key -> (part of the answer, value)
KEYS = {"R": ("answer", "real"), "F": ("answer", "synthetic"), "S": ("answer", "synthetic"),
        "T": ("tumor", True), "N": ("tumor", False), **{str(i): ("confidence", i) for i in range(1, 6)}}
BACK_KEYS = ("B", "Backspace")

_BUTTON_STYLE = "QPushButton {font-size: 20px; padding: 14px;} QPushButton:checked {background: #2a6db0;}"


class ReaderSessionWidget(QWidget):
    #: answers given sooner than this after an image appears are ignored (double taps, held keys)
    MIN_VIEW_S = 0.3

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.session: ReaderSession | None = None
        self.layer = None
        self._layout: CleanLayout | None = None
        self._previous_keys: dict[str, object] = {}
        self._choice: dict[str, object] = {}
        self._shown_at = 0.0
        self._shown_id: str | None = None  # the stimulus on screen; stale answers are refused
        self.setFocusPolicy(Qt.StrongFocus)
        self.pages = QStackedWidget()
        self.pages.addWidget(self._setup_page())
        self.pages.addWidget(self._reading_page())
        self.pages.addWidget(self._finished_page())
        QVBoxLayout(self).addWidget(self.pages)

    # ---- pages --------------------------------------------------------------------------------
    def _setup_page(self) -> QWidget:
        page = QWidget()
        self.study_edit = QLineEdit()
        self.study_edit.setPlaceholderText("study folder")
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        self.reader_edit = QLineEdit()
        self.reader_edit.setPlaceholderText("e.g. reader1")
        self.reader_edit.returnPressed.connect(self.start)
        self.start_button = QPushButton("Start reading")
        self.start_button.setStyleSheet(_BUTTON_STYLE)
        self.start_button.clicked.connect(self.start)
        self.setup_message = QLabel("Each image is shown once. Decide whether it is a real or a synthetic "
                                    "(fake) MR image. Your answers are saved as you go; if you stop, start "
                                    "again with the same reader id to continue where you left off.")
        self.setup_message.setWordWrap(True)
        grid = QGridLayout()
        grid.addWidget(QLabel("Study"), 0, 0)
        grid.addWidget(self.study_edit, 0, 1)
        grid.addWidget(browse, 0, 2)
        grid.addWidget(QLabel("Reader id"), 1, 0)
        grid.addWidget(self.reader_edit, 1, 1, 1, 2)
        layout = QVBoxLayout(page)
        layout.addLayout(grid)
        layout.addWidget(self.start_button)
        layout.addWidget(self.setup_message)
        layout.addStretch(1)
        return page

    def _reading_page(self) -> QWidget:
        page = QWidget()
        self.progress_label = QLabel()
        self.progress_label.setAlignment(Qt.AlignCenter)
        self.progress_label.setStyleSheet("font-size: 26px; font-weight: bold;")  # napari's theme beats QFont
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(8)
        self.buttons: dict[tuple[str, object], QPushButton] = {}
        self.answer_row = self._button_row([("Real  (R)", "answer", "real"), ("Fake  (F)", "answer", "synthetic")])
        self.tumor_row = self._button_row([("Tumor  (T)", "tumor", True), ("Non-tumor  (N)", "tumor", False)])
        self.confidence_label = QLabel("Confidence: 1 = guess ... 5 = certain")
        self.confidence_row = self._button_row([(str(i), "confidence", i) for i in range(1, 6)])
        self.back_button = QPushButton("Back  (B)")
        self.back_button.setFocusPolicy(Qt.NoFocus)
        self.back_button.clicked.connect(self.back)
        self.keys_label = QLabel()
        self.keys_label.setWordWrap(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        pause = QPushButton("Pause (answers are saved)")
        pause.setFocusPolicy(Qt.NoFocus)
        pause.clicked.connect(self.stop)
        layout = QVBoxLayout(page)
        for w in (self.progress_label, self.progress_bar, self.answer_row, self.tumor_row, self.confidence_label,
                  self.confidence_row, self.back_button, self.keys_label, self.status):
            layout.addWidget(w)
        layout.addStretch(1)
        layout.addWidget(pause)
        return page

    def _finished_page(self) -> QWidget:
        page = QWidget()
        self.finished_label = QLabel()
        self.finished_label.setWordWrap(True)
        self.finished_label.setAlignment(Qt.AlignCenter)
        self.finished_label.setStyleSheet("font-size: 20px;")
        close = QPushButton("Close")
        close.setStyleSheet(_BUTTON_STYLE)
        close.clicked.connect(self.stop)
        layout = QVBoxLayout(page)
        layout.addWidget(self.finished_label)
        layout.addWidget(close)
        layout.addStretch(1)
        return page

    def _button_row(self, specs) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        for text, part, value in specs:
            button = QPushButton(text)
            button.setCheckable(True)
            button.setFocusPolicy(Qt.NoFocus)  # Space/Enter must not answer by accident
            button.setStyleSheet(_BUTTON_STYLE)
            button.setMinimumHeight(56)
            button.clicked.connect(lambda _=False, p=part, v=value: self.choose(p, v, from_key=False))
            layout.addWidget(button)
            self.buttons[(part, value)] = button
        return row

    # ---- session lifecycle --------------------------------------------------------------------
    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the study folder")
        if folder:
            self.study_edit.setText(folder)

    def start(self) -> None:
        """Open the session for the chosen study and reader and show the first unanswered image."""
        try:
            session = ReaderSession(Path(self.study_edit.text().strip()), self.reader_edit.text())
        except (StudyError, OSError) as exc:
            self.setup_message.setText(f"<b>Cannot start:</b> {exc}")
            return
        self.session = session
        s = session.settings
        self.tumor_row.setVisible(s.ask_tumor)
        self.confidence_label.setVisible(bool(s.confidence_levels))
        self.confidence_row.setVisible(bool(s.confidence_levels))
        self.back_button.setVisible(s.allow_revise)
        keys = ["R real", "F fake"] + (["T tumor", "N non-tumor"] if s.ask_tumor else []) + \
            (["1-5 confidence"] if s.confidence_levels else []) + (["B back"] if s.allow_revise else [])
        self.keys_label.setText("Keys: " + " · ".join(keys))
        self.status.setText(f"Welcome back: {session.n_answered} of {session.n} already answered."
                            if session.n_answered else "")
        self._layout = CleanLayout(self.viewer, keep=self)
        if self._layout.own_dock is not None:  # closing the panel mid-session must not strand the reader
            self._layout.own_dock.destroyed.connect(self._panel_closed)
        self._bind_viewer_keys()
        self._show_current()

    def stop(self) -> None:
        """Leave the session (answers are on disk) and restore the viewer as it was."""
        if self.layer is not None and self.layer in self.viewer.layers:
            self.viewer.layers.remove(self.layer)
        self.layer = None
        self._unbind_viewer_keys()
        if self._layout is not None:
            layout, self._layout = self._layout, None
            if layout.own_dock is not None:
                try:
                    layout.own_dock.destroyed.disconnect(self._panel_closed)
                except (RuntimeError, TypeError):  # the dock is already gone
                    pass
            layout.restore()
        if self.session is not None:
            done = self.session.finished
            self.session.close()
            self.session = None
            paused = "Paused. Your answers are saved; start again with the same reader id to continue."
            self.setup_message.setText("Finished - thank you." if done else paused)
        self.pages.setCurrentIndex(0)

    def _panel_closed(self, *_) -> None:
        """The panel's dock was closed mid-session: put the viewer back and release the session."""
        self.stop()

    # ---- answering ----------------------------------------------------------------------------
    def choose(self, part: str, value, from_key: bool = True) -> None:
        """Select one part of the answer; saves and advances once every asked part is chosen."""
        s = self.session
        if s is None or s.finished or self.pages.currentIndex() != 1:
            return
        if part == "tumor" and not s.settings.ask_tumor or part == "confidence" and not s.settings.confidence_levels:
            return
        if time.monotonic() - self._shown_at < self.MIN_VIEW_S:
            self._sync_buttons()
            return
        self._choice[part] = value
        self._sync_buttons()
        needed = {"answer"} | ({"tumor"} if s.settings.ask_tumor else set()) | \
            ({"confidence"} if s.settings.confidence_levels else set())
        if needed <= set(self._choice):
            try:
                s.answer(self._choice["answer"], self._choice.get("tumor"), self._choice.get("confidence"),
                         stimulus_id=self._shown_id)
            except (StudyError, OSError) as exc:  # e.g. disk full: say so, keep the image on screen
                self.status.setText(f"<b>Answer not saved:</b> {exc}")
                return
            self._show_current()

    def back(self) -> None:
        if self.session is not None and self.session.can_go_back:
            self.session.back()
            self._show_current()

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.isAutoRepeat() or not self._handle_key(event.text().upper() or _special(event.key())):
            super().keyPressEvent(event)

    def _handle_key(self, key: str) -> bool:
        if self.session is None or self.pages.currentIndex() != 1:
            return False
        if key in KEYS:
            self.choose(*KEYS[key])
            return True
        if key in BACK_KEYS:
            self.back()
            return True
        return False

    def _show_current(self) -> None:
        s = self.session
        self._choice = {}
        self._sync_buttons()
        if s.finished:
            if self.layer is not None and self.layer in self.viewer.layers:
                self.viewer.layers.remove(self.layer)
            self.layer = None
            self.finished_label.setText(f"All {s.n} images are answered.<br><br>Thank you!")
            self.pages.setCurrentIndex(2)
            return
        pixels = s.image()
        if self.layer is None or self.layer not in self.viewer.layers:
            self.layer = self.viewer.add_image(pixels, name=s.current, colormap="gray", contrast_limits=(0, 255),
                                               interpolation2d="linear")
        else:
            self.layer.data = pixels
            self.layer.name = s.current
        self.viewer.layers.selection.clear()  # no active layer: its key bindings (1, 2, C...) stay out
        self._fit_view(pixels.shape)
        self.progress_label.setText(f"{s.position} of {s.n}")
        self.progress_bar.setRange(0, s.n)
        self.progress_bar.setValue(s.n_answered)
        self.back_button.setEnabled(s.can_go_back)
        self.pages.setCurrentIndex(1)
        self.setFocus()
        self._shown_id = s.current
        self._shown_at = time.monotonic()
        s.shown()

    def _fit_view(self, shape) -> None:
        """Centre and fit the stimulus (hidden layers must not widen the view, so no reset_view)."""
        h, w = shape
        camera = camera_of(self.viewer)
        camera.angles = (0, 0, 0)
        camera.center = ((h - 1) / 2, (w - 1) / 2)
        canvas_h, canvas_w = self.viewer.canvas.size
        camera.zoom = 0.95 * min(canvas_h / h, canvas_w / w)

    def _sync_buttons(self) -> None:
        for (part, value), button in self.buttons.items():
            button.setChecked(part in self._choice and self._choice[part] == value)

    # ---- viewer key bindings (when the image has the focus) ----------------------------------
    def _bind_viewer_keys(self) -> None:
        for key in list(KEYS) + ["B"]:
            self._previous_keys[key] = self.viewer.bind_key(key, self._viewer_key_handler(key), overwrite=True)

    def _viewer_key_handler(self, key: str):
        def handler(viewer):
            self._handle_key(key)

        return handler

    def _unbind_viewer_keys(self) -> None:
        for key, previous in self._previous_keys.items():
            self.viewer.bind_key(key, previous, overwrite=True)
        self._previous_keys = {}


def _special(qt_key: int) -> str:
    return "Backspace" if qt_key == Qt.Key_Backspace else ""
