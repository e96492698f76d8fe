"""File > Open in napari: bad files and folders get our message, not napari's "Choose reader" dialog.

napari's own reader also claims ``*.nii.gz`` and folders; ``napari-medsynth`` makes this plugin the
preferred reader for its session (``_reader.SESSION_READERS``), which the ``app_viewer`` fixture
sets as the app does (in memory, never saved). The paths go through ``QtViewer._qt_open``, what
File > Open and drag and drop call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import save_nifti

from napari_medsynth import _reader
from napari_medsynth.io import VolumeReadError


@pytest.fixture
def app_viewer(make_napari_viewer):
    from napari.settings import get_settings

    viewer = make_napari_viewer()
    settings = get_settings()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(settings), "_maybe_save", lambda self: None)  # the user's settings file stays as it was
        mp.setattr(settings.plugins, "extension2reader",
                   {**settings.plugins.extension2reader, **_reader.SESSION_READERS})
        yield viewer


@pytest.fixture
def dialogs(monkeypatch):
    """Every "Choose reader" dialog napari would show (the path and napari's text), none shown."""
    from napari._qt import qt_viewer

    shown = []

    def record(paths, qt_viewer_, stack, plugin_name=None, error=None, **kwargs):
        shown.append((paths, str(error or "")))

    monkeypatch.setattr(qt_viewer, "handle_gui_reading", record)
    return shown


def _file_open(viewer, path) -> list[tuple[str, str]]:
    """Open ``path`` as File > Open does; the notifications it raised, as (severity, message)."""
    from napari.utils.notifications import notification_manager

    before = len(notification_manager.records)
    viewer.window._qt_viewer._qt_open([str(path)], stack=False)
    return [(str(n.severity), n.message) for n in notification_manager.records[before:]]


def _errors(notes):
    return [m for s, m in notes if s == "error"]


def _case(folder, case, shape=(10, 12, 8), value=1.0):
    folder.mkdir(parents=True)
    save_nifti(folder / f"{case}_t1ce.nii.gz", np.full(shape, value, np.float32), np.eye(4))
    seg = np.zeros(shape, np.uint8)
    seg[2:5, 2:5, 2:5] = 2
    save_nifti(folder / f"{case}_seg.nii.gz", seg, np.eye(4), dtype=np.uint8)


def test_a_non_nifti_nii_gz_shows_our_message_without_the_reader_dialog(app_viewer, dialogs, tmp_path):
    bad = tmp_path / "scan.nii.gz"
    bad.write_bytes(b"PK\x03\x04 a zip archive, not a NIfTI" * 10)
    notes = _file_open(app_viewer, bad)
    assert dialogs == []
    assert any("scan.nii.gz: named .nii.gz but is not gzip-compressed" in m for m in _errors(notes)), notes
    assert len(app_viewer.layers) == 0
    good = save_nifti(tmp_path / "ok.nii.gz", np.ones((4, 5, 6), np.float32), np.eye(4))
    assert _errors(_file_open(app_viewer, good)) == [] and dialogs == []  # napari keeps going
    assert [layer.name for layer in app_viewer.layers] == ["ok"]


def test_an_empty_folder_shows_our_message(app_viewer, dialogs, tmp_path):
    (tmp_path / "empty").mkdir()
    notes = _file_open(app_viewer, tmp_path / "empty")
    assert dialogs == []
    assert any(m.startswith("empty: the folder holds no NIfTI files") and "no case folders" in m
               for m in _errors(notes)), notes


def test_a_folder_of_case_folders_opens_every_case_one_shown(app_viewer, dialogs, tmp_path):
    root = tmp_path / "study"
    _case(root / "P1", "P1", value=1.0)
    _case(root / "P2", "P2", value=2.0)
    (root / "notes.txt").write_text("not an image")
    notes = _file_open(app_viewer, root)
    assert dialogs == [] and _errors(notes) == []
    assert any("study: holds 2 case folders (P1, P2); opened all of them, showing P1" in m for _, m in notes), notes
    layers = {layer.name: layer for layer in app_viewer.layers}
    assert set(layers) == {"P1_t1ce", "P1_seg", "P2_t1ce", "P2_seg"}
    assert [n for n, layer in layers.items() if layer.visible] == ["P1_t1ce", "P1_seg"]
    assert type(layers["P2_seg"]).__name__ == "Labels" and float(layers["P2_t1ce"].data.max()) == 2.0


def test_too_many_cases_are_refused_with_a_count(app_viewer, dialogs, tmp_path, monkeypatch):
    monkeypatch.setattr(_reader, "MAX_CASES", 1)
    _case(tmp_path / "many" / "A", "A")
    _case(tmp_path / "many" / "B", "B")
    notes = _file_open(app_viewer, tmp_path / "many")
    assert dialogs == [] and len(app_viewer.layers) == 0
    assert any("many: holds 2 case folders (A, B), more than the 1 opened at once; open one case folder" in m
               for m in _errors(notes)), notes


def test_a_bad_case_among_good_ones_is_named_and_the_others_open(tmp_path):
    _case(tmp_path / "root" / "A", "A")
    (tmp_path / "root" / "B").mkdir()
    (tmp_path / "root" / "B" / "B_t1ce.nii.gz").write_bytes(b"")
    with pytest.warns(UserWarning, match=r"root: 1 of 2 case folders not opened: B_t1ce.nii.gz: the file is empty"):
        layers = _reader.read_path(str(tmp_path / "root"))
    assert [meta["name"] for _, meta, _ in layers] == ["A_t1ce", "A_seg"]


def test_napari_asks_only_about_folders_that_are_not_ours(tmp_path):
    (tmp_path / "pngs").mkdir()
    (tmp_path / "pngs" / "a.png").write_bytes(b"\x89PNG")
    (tmp_path / "empty").mkdir()
    _case(tmp_path / "deep" / "HGG" / "C1", "C1")
    assert _reader.napari_get_reader(str(tmp_path / "pngs")) is None  # napari's own reader takes it
    assert _reader.napari_get_reader(str(tmp_path / "empty")) is _reader.read_path
    assert _reader.napari_get_reader(str(tmp_path / "deep")) is _reader.read_path
    assert _reader.napari_get_reader(str(tmp_path / "anything.nii.gz")) is _reader.read_path


def test_chosen_in_napari_s_dialog_our_reader_raises_our_message(make_napari_viewer, tmp_path, monkeypatch):
    """Plain napari (no preference): the dialog lists both readers; choosing ours, the error that
    napari then shows is our message (in a Qt slot napari turns it into an error notification)."""
    from napari._qt.dialogs.qt_reader_dialog import QtReaderDialog

    viewer = make_napari_viewer()
    offered = []

    def choose_ours(dialog):
        offered.append(sorted(b.text() for b in dialog.reader_btn_group.buttons()))
        return "napari-medsynth", False

    monkeypatch.setattr(QtReaderDialog, "get_user_choices", choose_ours)
    bad = tmp_path / "scan.nii.gz"
    bad.write_bytes(b"not gzip at all" * 10)
    with pytest.raises(VolumeReadError, match="scan.nii.gz: named .nii.gz but is not gzip-compressed"):
        viewer.window._qt_viewer._qt_open([str(bad)], stack=False)
    assert offered == [["napari builtins", "napari-medsynth"]]


def test_the_app_sets_the_preference_for_its_session_only(tmp_path):
    """``session_reader_env`` as ``napari-medsynth`` uses it: napari prefers this plugin for NIfTI files
    and folders, keeps the user's own entries and writes none of ours into the settings file."""
    cfg = tmp_path / "settings.yaml"
    cfg.write_text("plugins:\n  extension2reader:\n    '*.tif': napari\n")
    code = """if True:
        import json, sys
        from napari_medsynth._reader import session_reader_env
        session_reader_env()
        from napari.plugins.utils import get_preferred_reader
        from napari.settings import get_settings
        s = get_settings()
        s.plugins.extension2reader = {**s.plugins.extension2reader, '*.png': 'napari'}  # saves the file
        print(json.dumps([get_preferred_reader(p) for p in ('x.nii.gz', 'y.nii', sys.argv[1], 'z.tif')]))
    """
    env = {**os.environ, "NAPARI_CONFIG": str(cfg), "NAPARI_PLUGINS_EXTENSION2READER": '{"*.NII": "napari"}'}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["napari-medsynth", "napari-medsynth",
                                                               "napari-medsynth", "napari"]
    saved = cfg.read_text()
    assert "'*.png': napari" in saved and "napari-medsynth" not in saved
