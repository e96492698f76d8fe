"""Reader session, results and setup panels in a real napari window (Xvfb)."""

import json
import re

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_medsynth.reader_study import create_study
from napari_medsynth.reader_study.sheets import read_key
from napari_medsynth.widgets._clean_layout import camera_of
from napari_medsynth.widgets.reader_session import ReaderSessionWidget
from napari_medsynth.widgets.study_results import TABLE_COLUMNS, StudyResultsWidget
from napari_medsynth.widgets.study_setup import create_study_widget


@pytest.fixture
def tumor_study(tmp_path):
    """10 stimuli: per group (tumor, non-tumor) 3 real and 2 synthetic; tumor question asked."""
    rng = np.random.default_rng(0)
    imgs = lambda k: rng.normal(size=(k, 32, 32))  # noqa: E731
    return create_study(tmp_path / "study", {"tumor": imgs(3), "non-tumor": imgs(3)},
                        {"tumor": imgs(2), "non-tumor": imgs(2)}, groups=["tumor", "non-tumor"],
                        tumor_groups=["tumor"], size=32, seed=2)


@pytest.fixture
def session_widget(make_napari_viewer, qtbot, monkeypatch):
    monkeypatch.setattr(ReaderSessionWidget, "MIN_VIEW_S", 0.0)
    viewer = make_napari_viewer()
    viewer.add_image(np.ones((3, 5, 5)), name="patient_T1_real_scan")  # must disappear during reading
    widget = ReaderSessionWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Reader session")
    return viewer, widget


def _press(qtbot, target, key):
    qtbot.keyClick(target, getattr(Qt, f"Key_{key}"))


def test_full_ten_image_session_with_keyboard(session_widget, tumor_study, qtbot):
    viewer, widget = session_widget
    before = viewer.layers["patient_T1_real_scan"]
    widget.study_edit.setText(str(tumor_study.folder))
    widget.reader_edit.setText("reader1")
    qt_viewer = viewer.window._qt_viewer
    assert not qt_viewer.dockLayerList.isHidden() and not qt_viewer.dims.isHidden()
    zoom = camera_of(viewer).zoom
    widget.start()
    canvas = qt_viewer.canvas.native
    assert qt_viewer.dockLayerList.isHidden() and qt_viewer.dockLayerControls.isHidden()
    assert qt_viewer.dims.isHidden()  # no slice slider next to a 2-D stimulus
    assert not widget.tumor_row.isHidden() and widget.confidence_row.isHidden()

    sent = []
    for k in range(10):
        visible = [layer for layer in viewer.layers if layer.visible]
        assert len(visible) == 1 and re.fullmatch(r"\d{6}", visible[0].name)  # one image, named by its id
        assert not before.visible
        assert widget.progress_label.text() == f"{k + 1} of 10"
        sid = visible[0].name
        answer, tumor = ("R", "T") if k % 3 else ("F", "N")
        # alternate: keys to the panel, then to the image canvas (napari key bindings)
        target = widget if k % 2 == 0 else canvas
        _press(qtbot, target, answer)
        assert widget.session.n_answered == k  # not saved until the tumor question is answered too
        _press(qtbot, target, tumor)
        sent.append((sid, "real" if answer == "R" else "synthetic", "yes" if tumor == "T" else "no"))

    assert widget.pages.currentIndex() == 2 and "All 10 images" in widget.finished_label.text()
    records = [json.loads(x) for x in (tumor_study.folder / "sessions" / "reader1.jsonl").read_text().splitlines()]
    assert len(records) == 10
    assert [(r["stimulus_id"], r["answer"], r["tumor_answer"]) for r in records] == sent
    assert {r["stimulus_id"] for r in records} == set(read_key(tumor_study.key_path))

    widget.stop()  # the "Close" button of the finish screen
    assert not qt_viewer.dockLayerList.isHidden() and not qt_viewer.dims.isHidden() and before.visible
    assert camera_of(viewer).zoom == pytest.approx(zoom)
    assert [layer.name for layer in viewer.layers] == ["patient_T1_real_scan"]
    assert viewer.bind_key("R", None) is None  # the reading shortcuts are gone again


def test_buttons_pause_resume_and_double_tap_guard(session_widget, tumor_study, qtbot, monkeypatch):
    viewer, widget = session_widget
    widget.study_edit.setText(str(tumor_study.folder))
    widget.reader_edit.setText("r2")
    widget.start()
    for _ in range(3):
        widget.buttons[("tumor", False)].click()  # order does not matter
        widget.buttons[("answer", "real")].click()
    widget.stop()
    assert "Paused" in widget.setup_message.text() and widget.session is None
    widget.start()
    assert widget.progress_label.text() == "4 of 10" and "3 of 10 already answered" in widget.status.text()
    monkeypatch.setattr(ReaderSessionWidget, "MIN_VIEW_S", 60.0)
    _press(qtbot, widget, "R")
    _press(qtbot, widget, "T")
    assert widget.session.n_answered == 3  # too fast after the image appeared: ignored
    widget.stop()


def test_start_errors_are_shown(session_widget, tmp_path):
    _, widget = session_widget
    widget.study_edit.setText(str(tmp_path))
    widget.reader_edit.setText("r1")
    widget.start()
    assert "Cannot start" in widget.setup_message.text() and widget.pages.currentIndex() == 0


def test_results_widget_shows_table_and_figure(make_napari_viewer, tumor_study, qtbot):
    from napari_medsynth.reader_study import ReaderSession

    for reader in ("a", "b"):
        with ReaderSession(tumor_study.folder, reader) as s:
            while not s.finished:
                s.answer("real", tumor_answer=int(s.current) % 2 == 0)
    widget = StudyResultsWidget(make_napari_viewer())
    widget.key_edit.setText(str(tumor_study.key_path))
    widget.add_answer_files(sorted((tumor_study.folder / "sessions").glob("*.jsonl")))
    widget.run()  # scores in a background job
    assert not widget.score_button.isEnabled()
    qtbot.waitUntil(lambda: widget.score_button.isEnabled(), timeout=60_000)
    assert "Saved report.md, metrics.csv, mrmc.csv, images.csv" in widget.message.text()
    assert widget.table.rowCount() == 9  # (a, b, mean) x (non-tumor, tumor, all)
    cells = [widget.table.item(r, 0).text() for r in range(9)]
    assert cells.count("mean") == 3
    assert widget.summary.rowCount() == 3 and widget.summary.item(0, 0).text() == "non-tumor"
    # both readers call everything real: AUC 0.5 exactly, and every synthetic image fooled both
    auc_col = [c[1] for c in TABLE_COLUMNS].index("auc")
    assert widget.table.item(0, auc_col).text().startswith("0.50")
    assert widget.fooled_table.rowCount() == 4 and widget.fooled_table.item(0, 2).text() == "2/2 (100%)"
    assert widget.mrmc_table.rowCount() > 0
    assert not widget.figure.pixmap().isNull() and not widget.roc.pixmap().isNull()
    first = widget.fooled_table.item(0, 0).text()
    origin = widget.result.images[0]["origin"]  # e.g. "synthetic/tumor[1]": the file name is shown
    assert widget.fooled_table.item(0, 4).text() == origin.split("/")[-1]
    widget.show_stimulus(0)  # double-click: the image in the viewer
    widget.show_stimulus(1)  # replaces the previous one
    shown = [layer for layer in widget.viewer.layers if layer.name.startswith("stimulus ")]
    assert len(shown) == 1 and shown[0].data.shape == (32, 32) and first not in shown[0].name
    widget.key_edit.setText(str(tumor_study.folder / "study.json"))
    widget.run()
    qtbot.waitUntil(lambda: widget.score_button.isEnabled(), timeout=60_000)
    assert "Cannot score" in widget.message.text()


def test_create_study_form(tmp_path):
    for source in ("real", "synthetic"):
        (tmp_path / source).mkdir()
        np.save(tmp_path / source / "batch.npy", np.random.default_rng(0).normal(size=(4, 16, 16)))
    form = create_study_widget()
    # nothing that looks like a value before anything was chosen or created
    for field in (form["real"], form["synthetic"], form["parent"]):
        assert field.value is None and field.line_edit.value == "" and field.line_edit.native.placeholderText()
    assert "0 = all" in form.n.label and form.n.value == 0
    from qtpy.QtWidgets import QLabel, QLineEdit

    texts = [w.text() for kind in (QLineEdit, QLabel) for w in form.native.findChildren(kind)]
    assert "None" not in texts and "/root" not in texts and form.outcome.value == ""  # no stray "None" box
    assert form().startswith("Not created: choose a folder for Real images, Synthetic images, Save in")
    message = form(real=tmp_path / "real", synthetic=tmp_path / "synthetic", size=16, parent=tmp_path, name="s1")
    assert message.startswith("Created") and (tmp_path / "s1_key.csv").is_file()
    assert form.outcome.value == message  # the outcome, under the button
    assert re.search(r"Leak check: a histogram classifier tells real from synthetic at \d+% \(chance 50%\)", message)
    assert form(real=tmp_path / "nope", synthetic=tmp_path / "synthetic", parent=tmp_path,
                name="s2").startswith("Not created")


def test_closing_the_panel_mid_session_restores_the_viewer(session_widget, tumor_study, qtbot):
    viewer, widget = session_widget
    widget.study_edit.setText(str(tumor_study.folder))
    widget.reader_edit.setText("r3")
    widget.start()
    _press(qtbot, widget, "R")
    _press(qtbot, widget, "N")
    qt_viewer = viewer.window._qt_viewer
    assert qt_viewer.dockLayerList.isHidden()
    viewer.window.remove_dock_widget(widget)  # the panel's close button
    qtbot.waitUntil(lambda: widget.session is None)
    assert not qt_viewer.dockLayerList.isHidden() and viewer.layers["patient_T1_real_scan"].visible
    assert len(viewer.layers) == 1
    from napari_medsynth.reader_study import ReaderSession

    with ReaderSession(tumor_study.folder, "r3") as s:  # lock released, answer kept
        assert s.n_answered == 1
