"""Reader sessions: durable answers, crash-resume, no question asked twice, key never opened."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_medsynth.reader_study import ReaderSession, SessionError, SessionLockedError, create_study
from napari_medsynth.reader_study.session import read_session_file

REPO = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).resolve().parent / "helpers" / "reader_driver.py"


@pytest.fixture
def study(tmp_path):
    rng = np.random.default_rng(0)
    made = create_study(tmp_path / "study", rng.normal(size=(6, 24, 24)), rng.uniform(size=(6, 24, 24)),
                        size=16, seed=3)
    return made


def _lines(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines()]


def test_answers_are_on_disk_at_once_and_resume_skips_them(study):
    folder = study.folder
    with ReaderSession(folder, "r1") as s:
        assert (s.position, s.n) == (1, 12)
        first = s.current
        s.answer("real")
        s.answer("fake")  # 'fake' is accepted as synthetic
        assert len(_lines(s.path)) == 2  # written before the session is closed
        assert _lines(s.path)[1]["answer"] == "synthetic"
        seen = set(s.order[:2])
    with ReaderSession(folder, "r1") as s:
        assert s.n_answered == 2 and s.position == 3 and s.current not in seen
        assert s.order[0] == first  # the same reader keeps the same order
        while not s.finished:
            s.answer("real")
        assert s.current is None and s.position == 12
        with pytest.raises(SessionError, match="finished"):
            s.answer("real")
    records = _lines(folder / "sessions" / "r1.jsonl")
    assert len(records) == 12 and len({r["stimulus_id"] for r in records}) == 12


def test_no_revising_unless_allowed_and_stale_keys_refused(study, tmp_path):
    with ReaderSession(study.folder, "r1") as s:
        sid = s.current
        s.answer("real", stimulus_id=sid)
        with pytest.raises(SessionError, match="not the one on screen"):
            s.answer("real", stimulus_id=sid)  # a double key press meant for the last image
        with pytest.raises(SessionError, match="does not allow"):
            s.back()
        with pytest.raises(SessionError, match="real' or 'synthetic"):
            s.answer("maybe")
    imgs = np.random.default_rng(1).normal(size=(3, 20, 20))
    made = create_study(tmp_path / "rev", imgs, imgs, allow_revise=True, size=16)
    with ReaderSession(made.folder, "r1") as s:
        a = s.current
        s.answer("real")
        s.answer("real")
        assert s.back() != a and s.back() == a
        s.answer("synthetic")  # revised
        assert s.position == 3  # back to the first unanswered image
    records = read_session_file(made.folder / "sessions" / "r1.jsonl")
    assert [r["answer"] for r in records if r["stimulus_id"] == a] == ["real", "synthetic"]


def test_tumor_and_confidence_required_where_asked(tmp_path):
    imgs = np.random.default_rng(1).normal(size=(2, 20, 20))
    made = create_study(tmp_path / "s", {"tumor": imgs, "non-tumor": imgs}, {"tumor": imgs, "non-tumor": imgs},
                        groups=["tumor", "non-tumor"], tumor_groups=["tumor"], confidence=True, size=16)
    with ReaderSession(made.folder, "r1") as s:
        with pytest.raises(SessionError, match="tumor"):
            s.answer("real", confidence=3)
        with pytest.raises(SessionError, match="confidence"):
            s.answer("real", tumor_answer=True, confidence=6)
        record = s.answer("real", tumor_answer=False, confidence=5)
    assert (record["tumor_answer"], record["confidence"]) == ("no", 5)


def test_torn_last_line_is_dropped_and_midfile_damage_reported(study):
    with ReaderSession(study.folder, "r1") as s:
        s.answer("real")
        s.answer("real")
        path = s.path
    with open(path, "ab") as fh:  # a crash in the middle of writing the third answer
        fh.write(b'{"stimulus_id":"12')
    with ReaderSession(study.folder, "r1") as s:
        assert s.n_answered == 2
        s.answer("synthetic")
    assert len(_lines(path)) == 3  # the torn bytes were cut, the new line starts cleanly
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([lines[0], b"garbage", *lines[1:]]))
    with pytest.raises(SessionError, match="line 2 is damaged"):
        ReaderSession(study.folder, "r1")


def test_one_reader_cannot_open_two_sessions(study):
    with ReaderSession(study.folder, "r1"):
        with pytest.raises(SessionLockedError, match="already has this study open"):
            ReaderSession(study.folder, "r1")
        ReaderSession(study.folder, "r2").close()  # other readers are fine
    ReaderSession(study.folder, "r1").close()  # released on close
    with pytest.raises(ValueError, match="reader id"):
        ReaderSession(study.folder, "../evil")


def _driver(study, reader, slow_after):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, str(DRIVER), str(study), reader, str(slow_after)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_kill_mid_session_then_resume_loses_nothing_and_asks_nothing_twice(study):
    proc = _driver(study.folder, "r1", slow_after=4)
    confirmed, asked_first = [], []
    try:
        for line in proc.stdout:
            kind, _, sid = line.strip().partition(" ")
            if kind == "asking":
                asked_first.append(sid)
            if kind == "answered":
                confirmed.append(sid)
                if len(confirmed) == 5:  # kill while it is busy with the next images
                    proc.send_signal(signal.SIGKILL)
                    break
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    on_disk = [r["stimulus_id"] for r in read_session_file(study.folder / "sessions" / "r1.jsonl")]
    assert 5 <= len(on_disk) < 12  # killed mid-session
    assert set(confirmed) <= set(on_disk)  # every confirmed answer survived the kill
    assert len(on_disk) == len(set(on_disk))

    resumed = _driver(study.folder, "r1", slow_after=0)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == f"start {len(on_disk)}"
    asked_again = [x.split()[1] for x in lines if x.startswith("asking")]
    assert not set(asked_again) & set(on_disk)  # nothing asked twice
    final = [r["stimulus_id"] for r in read_session_file(study.folder / "sessions" / "r1.jsonl")]
    assert sorted(final) == sorted(set(final)) and len(final) == 12
    assert final[:len(on_disk)] == on_disk

    opened = json.loads(next(x for x in lines if x.startswith("opened "))[len("opened "):])
    assert any(p.endswith("study.json") for p in opened) and any(p.endswith(".png") for p in opened)
    assert not any(study.key_path.name in p or p.endswith(".csv") for p in opened)  # key never opened
