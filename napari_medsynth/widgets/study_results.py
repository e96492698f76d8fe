"""Reader study results panel: pick the key and the answers, see the metrics, MRMC and ROC results.

A view over :func:`~napari_medsynth.reader_study.export.score_files`: the same files as
``napari-medsynth study score`` (metrics.csv, mrmc.csv, images.csv, the ROC and confusion-matrix
figures, report.md), written to the chosen folder and shown here. Scoring (binormal fits,
jackknife) runs in a background :class:`~napari_medsynth.jobs.Job`, so napari stays responsive.

Tabs: *Summary* (per group: readers' mean AUC and accuracy with random-reader random-case
intervals and tests against chance, and the ROC curves), *Per reader*, *MRMC* (the full
Obuchowski-Rockette table with variance components), *Fooled rate* (per synthetic image: how
many readers called it real, its source and provenance sidecar) and *Confusion matrices*.
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
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..jobs import Job
from ..reader_study.export import score_files
from ..reader_study.report import verdict
from ..reader_study.study import SESSIONS_DIR
from ._jobs import JobRunner

#: (column title, row key, format); "{ci}" columns show the 95% interval next to the value
TABLE_COLUMNS = (("Reader", "reader", "{}"), ("Group", "group", "{}"), ("n", "n", "{}"),
                 ("AUC", "auc", "{ci}"), ("p (AUC)", "auc_p_value", "{p}"), ("Binormal AUC", "auc_binormal", "{ci}"),
                 ("ACC", "accuracy", "{ci}"), ("p (ACC)", "p_value", "{p}"), ("FPR", "fpr", "{ci}"),
                 ("FNR", "fnr", "{ci}"), ("PR", "precision", "{ci}"), ("Tumor ACC", "tumor_accuracy", "{ci}"),
                 ("Fleiss κ", "fleiss_kappa", "{:.2f}"))
SUMMARY_COLUMNS = (("Group", "group", "{}"), ("Readers", "n_readers", "{}"), ("Images", "mrmc_cases", "{}"),
                   ("Mean AUC [95% CI]", "auc", "{ci}"), ("p (AUC = 0.5)", "auc_p_value", "{p}"),
                   ("Accuracy [95% CI]", "accuracy", "{ci}"), ("p (ACC = 0.5)", "p_value", "{p}"),
                   ("Fleiss κ", "fleiss_kappa", "{:.2f}"))
MRMC_COLUMNS = (("Group", "group", "{}"), ("FOM", "fom", "{}"), ("Readers", "n_readers", "{}"),
                ("Images", "n_cases", "{}"), ("Estimate", "estimate", "{:.3f}"), ("SE", "se", "{:.4f}"),
                ("df", "df", "{:.1f}"), ("95% CI", "ci_low", "{range}"), ("p (= 0.5)", "p_value", "{p}"),
                ("σ²(reader)", "var_reader", "{:.2e}"), ("Var(error)", "var_error", "{:.2e}"),
                ("Cov2", "cov2", "{:.2e}"), ("Method", "method", "{}"))
FOOLED_COLUMNS = (("Image", "stimulus_id", "{}"), ("Group", "group", "{}"), ("Fooled", "fooled_rate", "{share}"),
                  ("Mean confidence", "mean_confidence", "{:.1f}"), ("Origin", "origin", "{name}"),
                  ("Provenance sidecar", "provenance", "{name}"))


def scoring_job(key: str, files: list[str], out: str) -> Job:
    return Job(lambda ctx: score_files(key, files, out), name="napari-medsynth study score")


class StudyResultsWidget(QWidget):
    def __init__(self, napari_viewer=None):
        super().__init__()
        self.viewer = napari_viewer
        self.key_edit = QLineEdit()
        self.key_edit.setPlaceholderText("answer key (…_key.csv)")
        self.answers = QListWidget()
        self.answers.setMaximumHeight(70)
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("results folder (default: beside the key)")
        self.score_button = QPushButton("Score")
        self.score_button.clicked.connect(self.run)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.result = None

        self.summary = _table(SUMMARY_COLUMNS)
        self.verdicts = QLabel()
        self.verdicts.setWordWrap(True)
        self.roc = FitImage()
        summary_page = QSplitter(Qt.Vertical)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.summary)
        top_layout.addWidget(self.verdicts)
        summary_page.addWidget(top)
        summary_page.addWidget(_scrolled(self.roc))
        summary_page.setStretchFactor(1, 3)
        self.table = _table(TABLE_COLUMNS)
        self.mrmc_table = _table(MRMC_COLUMNS)
        self.fooled_table = _table(FOOLED_COLUMNS)
        self.fooled_table.setToolTip("Double-click an image to show it in the viewer")
        self.fooled_table.cellDoubleClicked.connect(lambda row, _: self.show_stimulus(row))
        self.figure = QLabel("")
        self.figure.setAlignment(Qt.AlignTop | Qt.AlignHCenter)
        self.tabs = QTabWidget()
        self.tabs.addTab(summary_page, "Summary")
        self.tabs.addTab(self.table, "Per reader")
        self.tabs.addTab(self.mrmc_table, "MRMC")
        self.tabs.addTab(self.fooled_table, "Fooled rate")
        self.tabs.addTab(_scrolled(self.figure), "Confusion matrices")

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

        self.runner = JobRunner(self)
        self.runner.succeeded.connect(self._show_result)
        self.runner.failed.connect(lambda text: self.message.setText(f"<b>Cannot score:</b> {text}"))
        self.runner.finished.connect(lambda: self.score_button.setEnabled(True))

    def _browse_button(self, slot) -> QPushButton:
        b = QPushButton("Browse…")
        b.clicked.connect(slot)
        return b

    def _pick_key(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Answer key", "", "CSV (*.csv)")
        if path:
            self.key_edit.setText(path)

    def _pick_out(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the results")
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

    @property
    def busy(self) -> bool:
        return self.runner.running

    def run(self) -> None:
        """Score in the background; problems with the files are shown as a message, not raised."""
        if self.runner.running:
            return
        key = self.key_edit.text().strip()
        files = [self.answers.item(i).text() for i in range(self.answers.count())]
        if not key or not files:
            self.message.setText("Choose the answer key and at least one answer or session file.")
            return
        out = self.out_edit.text().strip() or str(Path(key).with_name(Path(key).stem + "_results"))
        self.out_edit.setText(out)
        self.score_button.setEnabled(False)
        self.message.setText("Scoring … (ROC fits and MRMC analysis)")
        self.runner.start(scoring_job(key, files, out))

    def _show_result(self, result) -> None:
        self.result = result
        self.show_rows(result.rows)
        means = [r for r in result.rows if r["reader"] == "mean"]
        _fill(self.summary, SUMMARY_COLUMNS, means)
        self.verdicts.setText("<br>".join(f"<b>{m['group']}</b>: {verdict(m)}" for m in means))
        _fill(self.mrmc_table, MRMC_COLUMNS, result.mrmc)
        _fill(self.fooled_table, FOOLED_COLUMNS, [i for i in result.images if i["source"] == "synthetic"])
        self.roc.set_image(result.roc_path)
        self.figure.setPixmap(QPixmap(str(result.figure_path)))
        notes = "<br>".join(result.notes)
        self.message.setText(f"Saved {result.report_path.name}, {result.metrics_path.name}, {result.mrmc_path.name}, "
                             f"{result.images_path.name} and the figures in {result.metrics_path.parent}."
                             + (f"<br>{notes}" if notes else ""))

    def show_rows(self, rows: list[dict]) -> None:
        _fill(self.table, TABLE_COLUMNS, rows)

    def stimulus_path(self, stimulus_id: str) -> Path | None:
        """The study's PNG of a stimulus: the study folder is found beside the key (``STUDY_key.csv``)
        or above the session files."""
        key = Path(self.key_edit.text().strip())
        folders = [key.with_name(key.stem[:-4])] if key.stem.endswith("_key") else []
        folders += [Path(self.answers.item(i).text()).parent.parent for i in range(self.answers.count())]
        for folder in folders:
            path = folder / "stimuli" / f"{stimulus_id}.png"
            if path.is_file():
                return path
        return None

    def show_stimulus(self, row: int) -> None:
        """Show the image of a fooled-rate row in the viewer (one layer, replaced each time)."""
        item = self.fooled_table.item(row, 0)
        path = self.stimulus_path(item.text()) if item is not None else None
        if path is None or self.viewer is None:
            self.message.setText("The study folder (with stimuli/) was not found beside the key or the sessions.")
            return
        from ..reader_study.stimuli import read_png

        for layer in [lyr for lyr in self.viewer.layers if lyr.name.startswith("stimulus ")]:
            self.viewer.layers.remove(layer)
        fooled = self.fooled_table.item(row, 2).text()
        self.viewer.add_image(read_png(path), name=f"stimulus {item.text()} (fooled {fooled})")


class FitImage(QLabel):
    """An image shown at the label's width (never enlarged), so a wide figure fits the panel."""

    def __init__(self):
        super().__init__()
        self._original = QPixmap()
        self.setAlignment(Qt.AlignTop | Qt.AlignHCenter)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.setMinimumSize(1, 1)

    def set_image(self, path) -> None:
        self._original = QPixmap(str(path))
        self._rescale()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt)
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._original.isNull():
            self.clear()
            return
        width = max(1, min(self.width(), self._original.width()))
        self.setPixmap(self._original.scaledToWidth(width, Qt.SmoothTransformation))


def _table(columns) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels([c[0] for c in columns])
    table.setEditTriggers(QTableWidget.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    return table


def _scrolled(label: QLabel) -> QScrollArea:
    scroll = QScrollArea()
    scroll.setWidget(label)
    scroll.setWidgetResizable(True)
    return scroll


def _fill(table: QTableWidget, columns, rows: list[dict]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, (_, name, fmt) in enumerate(columns):
            item = QTableWidgetItem(_cell(row, name, fmt))
            if row.get("reader") == "mean":
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            if name in ("origin", "provenance") and row.get(name):
                item.setToolTip(str(row[name]))
            table.setItem(r, c, item)
    table.resizeColumnsToContents()


def _cell(row: dict, name: str, fmt: str) -> str:
    value = row.get(name)
    if value is None or value == "":
        return "–"
    if fmt == "{ci}":
        low, high = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
        return f"{value:.2f}" + (f" [{low:.2f}–{high:.2f}]" if low is not None else "")
    if fmt == "{p}":
        return "< 0.001" if value < 0.001 else f"{value:.3f}"
    if fmt == "{range}":
        return f"[{row['ci_low']:.3f}–{row['ci_high']:.3f}]"
    if fmt == "{name}":
        return Path(str(value)).name
    if fmt == "{share}":
        return f"{row['n_called_real']}/{row['n_readers']} ({value:.0%})"
    return fmt.format(value)
