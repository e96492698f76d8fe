"""Reader study results panel: pick the key and the answers, see the metrics and the matrices.

A view over :func:`~napari_medsynth.reader_study.export.score_files`: the same metrics.csv and
figure as ``napari-medsynth study score``, written to the chosen folder and shown here.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import Qt
from qtpy.QtGui import QPixmap
from qtpy.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..reader_study.export import score_files
from ..reader_study.study import SESSIONS_DIR, StudyError

#: (column title, row key, format); "{ci}" columns show the 95% interval next to the value
TABLE_COLUMNS = (("Reader", "reader", "{}"), ("Group", "group", "{}"), ("n", "n", "{}"),
                 ("ACC", "accuracy", "{ci}"), ("FPR", "fpr", "{ci}"), ("FNR", "fnr", "{ci}"),
                 ("PR", "precision", "{ci}"), ("Tumor ACC", "tumor_accuracy", "{ci}"),
                 ("p (vs chance)", "p_value", "{:.3g}"), ("Fleiss κ", "fleiss_kappa", "{:.2f}"))


class StudyResultsWidget(QWidget):
    def __init__(self, napari_viewer=None):
        super().__init__()
        self.viewer = napari_viewer
        self.key_edit = QLineEdit()
        self.key_edit.setPlaceholderText("answer key (…_key.csv)")
        self.answers = QListWidget()
        self.answers.setMaximumHeight(90)
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("results folder (default: beside the key)")
        self.score_button = QPushButton("Score")
        self.score_button.clicked.connect(self.run)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels([c[0] for c in TABLE_COLUMNS])
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.figure = QLabel("")
        self.figure.setAlignment(Qt.AlignTop | Qt.AlignHCenter)
        scroll = QScrollArea()
        scroll.setWidget(self.figure)
        scroll.setWidgetResizable(True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.table, "Metrics")
        self.tabs.addTab(scroll, "Confusion matrices")

        buttons = QHBoxLayout()
        for text, slot in (("Add answer files…", self._add_files), ("Add study sessions…", self._add_sessions),
                           ("Clear", self.answers.clear)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        grid = QGridLayout()
        grid.addWidget(QLabel("Key"), 0, 0)
        grid.addWidget(self.key_edit, 0, 1)
        grid.addWidget(self._browse_button(self._pick_key), 0, 2)
        grid.addWidget(QLabel("Answers"), 1, 0, Qt.AlignTop)
        grid.addWidget(self.answers, 1, 1, 1, 2)
        grid.addLayout(buttons, 2, 1, 1, 2)
        grid.addWidget(QLabel("Results"), 3, 0)
        grid.addWidget(self.out_edit, 3, 1)
        grid.addWidget(self._browse_button(self._pick_out), 3, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(self.score_button)
        layout.addWidget(self.message)
        layout.addWidget(self.tabs, 1)

    def _browse_button(self, slot) -> QPushButton:
        b = QPushButton("Browse…")
        b.clicked.connect(slot)
        return b

    def _pick_key(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Answer key", "", "CSV (*.csv)")
        if path:
            self.key_edit.setText(path)

    def _pick_out(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for metrics.csv and the figure")
        if folder:
            self.out_edit.setText(folder)

    def _add_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Answer sheets or session files", "",
                                                "Answers (*.csv *.jsonl);;All files (*)")
        self.add_answer_files(paths)

    def _add_sessions(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Study folder")
        if folder:
            self.add_answer_files(sorted((Path(folder) / SESSIONS_DIR).glob("*.jsonl")))

    def add_answer_files(self, paths) -> None:
        present = {self.answers.item(i).text() for i in range(self.answers.count())}
        self.answers.addItems([str(p) for p in paths if str(p) not in present])

    def run(self) -> None:
        """Score and show; problems with the files are shown as a message, not raised."""
        key = self.key_edit.text().strip()
        files = [self.answers.item(i).text() for i in range(self.answers.count())]
        if not key or not files:
            self.message.setText("Choose the answer key and at least one answer or session file.")
            return
        out = self.out_edit.text().strip() or str(Path(key).with_name(Path(key).stem + "_results"))
        try:
            result = score_files(key, files, out)
        except (StudyError, OSError, ValueError) as exc:
            self.message.setText(f"<b>Cannot score:</b> {exc}")
            return
        self.out_edit.setText(out)
        self.show_rows(result.rows)
        self.figure.setPixmap(QPixmap(str(result.figure_path)))
        notes = "<br>".join(result.notes)
        self.message.setText(f"Saved {result.metrics_path.name} and {result.figure_path.name} in {out}."
                             + (f"<br>{notes}" if notes else ""))

    def show_rows(self, rows: list[dict]) -> None:
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, (_, name, fmt) in enumerate(TABLE_COLUMNS):
                item = QTableWidgetItem(_cell(row, name, fmt))
                if row["reader"] == "mean":
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()


def _cell(row: dict, name: str, fmt: str) -> str:
    value = row.get(name)
    if value is None:
        return "–"
    if fmt == "{ci}":
        low, high = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
        return f"{value:.2f}" + (f" [{low:.2f}–{high:.2f}]" if low is not None else "")
    return fmt.format(value)
