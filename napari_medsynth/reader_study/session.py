"""One reader's pass through a study: show the next stimulus, record the answer, survive crashes.

Each answer is one JSON line appended to the reader's own session file and made durable at once
(``write`` + ``fsync``) before the next image is shown, so a crash, a kill or a power cut loses at
most the answer being typed. Opening the session again reads the file and continues with the
first stimulus of the reader's order that has no answer: nothing is asked twice.

A crash can leave a torn last line (a partial write, or zeros after a power cut). Only a damaged
*tail* is treated that way: it is dropped and the file truncated before new answers are appended.
Damage followed by valid lines is real corruption and is reported, never silently skipped.

While a session is open its file is locked (POSIX ``flock``), so the same reader cannot run two
windows at once and be asked the same image in both. The lock dies with the process. Session
files are private to the reader's account (0600): other readers on the machine cannot look up
how a colleague answered.

When an answer cannot be written (disk full, quota, a removed USB stick) the file is cut back to
the last complete answer and :class:`SessionWriteError` says what happened: the earlier answers
are intact and the same answer can be given again once there is space.

This module imports only :mod:`.study`: the answer key is not reachable from here.
"""

from __future__ import annotations

import errno
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from .study import StudyError, check_reader_id, load_study, reader_key

try:  # POSIX advisory locks; Windows runs without the double-window guard
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

ANSWERS = ("real", "synthetic")


class SessionError(StudyError):
    """The session cannot do what was asked (finished, no revising, bad value, damaged file)."""


class SessionLockedError(SessionError):
    """Another window or process has this reader's session open."""


class SessionWriteError(SessionError):
    """An answer could not be saved (disk full, no permission...); earlier answers are intact."""


def _why(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "the disk is full (no space left on the device)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "the study folder cannot be written to (no permission, or read-only)"
    return exc.strerror or str(exc)


def read_session_file(path: str | os.PathLike) -> list[dict]:
    """The answer records of a session file, read-only; a torn tail is ignored."""
    path = Path(path)
    records, _ = _parse(path.read_bytes(), str(path))
    return records


def _parse(data: bytes, where: str) -> tuple[list[dict], int]:
    """Valid records and the byte length of the valid prefix."""
    records: list[dict] = []
    valid_end = 0
    bad_line = None
    offset = 0
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        complete = number < len(lines)  # the piece after the last newline is unfinished
        end = offset + len(raw) + (1 if complete else 0)
        record = _record(raw) if complete else None
        if record is not None:
            if bad_line is not None:
                raise SessionError(f"{where}: line {bad_line} is damaged but later answers follow; "
                                   "the file was edited or corrupted. Fix or remove that line.")
            records.append(record)
            valid_end = end
        elif raw.strip(b"\x00 \r\t") and bad_line is None:
            bad_line = number
        offset = end
    return records, valid_end


def _record(raw: bytes) -> dict | None:
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or record.get("answer") not in ANSWERS or \
            not isinstance(record.get("stimulus_id"), str):
        return None
    return record


class ReaderSession:
    """A reader working through a study folder. Use as a context manager, or call :meth:`close`."""

    def __init__(self, study_folder: str | os.PathLike, reader: str, session_path: str | os.PathLike | None = None):
        self.study = load_study(study_folder)
        self.settings = self.study.settings
        self.reader = check_reader_id(reader)
        self.path = Path(session_path) if session_path else self.study.session_path(self.reader)
        self.order = self.study.reader_order(self.reader)
        self.answers: dict[str, dict] = {}
        self._fd = self._open_locked()
        try:
            self._resume()
        except BaseException:
            self.close()
            raise
        self._position = self._first_unanswered()
        self._shown_at = time.monotonic()

    # ---- state -------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.order)

    @property
    def n_answered(self) -> int:
        return len(self.answers)

    @property
    def finished(self) -> bool:
        return self._position >= len(self.order)

    @property
    def current(self) -> str | None:
        """The stimulus to show now, or None when every stimulus has an answer."""
        return None if self.finished else self.order[self._position]

    @property
    def position(self) -> int:
        """1-based place of :attr:`current` in this reader's order (the k of "k of N")."""
        return min(self._position + 1, self.n)

    @property
    def can_go_back(self) -> bool:
        return self.settings.allow_revise and self._position > 0

    def image(self, stimulus_id: str | None = None):
        """Pixels of a stimulus (default: the current one) as a 2-D uint8 array."""
        from .stimuli import read_png

        stimulus_id = stimulus_id or self.current
        if stimulus_id is None:
            raise SessionError("the session is finished: there is no image to show")
        return read_png(self.study.stimulus_path(stimulus_id))

    def shown(self) -> None:
        """Mark the moment the current image appeared on screen (for the viewing time)."""
        self._shown_at = time.monotonic()

    # ---- actions ------------------------------------------------------------------------------
    def answer(self, answer: str, tumor_answer: bool | None = None, confidence: int | None = None,
               stimulus_id: str | None = None) -> dict:
        """Record the answer for the current stimulus, durably, and move on.

        ``stimulus_id`` (optional) must be the current stimulus: a stale key press meant for the
        previous image is refused instead of landing on the next one.
        """
        current = self.current
        if current is None:
            raise SessionError("the session is finished: all images have an answer")
        if stimulus_id is not None and stimulus_id != current:
            raise SessionError(f"stimulus {stimulus_id} is not the one on screen ({current})")
        if current in self.answers and not self.settings.allow_revise:
            raise SessionError(f"stimulus {current} already has an answer and this study does not allow revising")
        record = {
            "stimulus_id": current,
            "answer": self._checked_answer(answer),
            "tumor_answer": self._checked_tumor(tumor_answer),
            "confidence": self._checked_confidence(confidence),
            "reader": self.reader,
            "answered_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "view_s": round(time.monotonic() - self._shown_at, 3),
        }
        self._append(record)
        self.answers[current] = record
        self._position = self._first_unanswered()
        self._shown_at = time.monotonic()
        return record

    def back(self) -> str:
        """Go to the previous image in the order (only where the study allows revising)."""
        if not self.can_go_back:
            raise SessionError("this study does not allow going back to revise answers")
        self._position -= 1
        self._shown_at = time.monotonic()
        return self.order[self._position]

    def close(self) -> None:
        """Release the file and its lock (answers are already on disk)."""
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ReaderSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- internals ----------------------------------------------------------------------------
    def _checked_answer(self, answer: str) -> str:
        value = {"fake": "synthetic"}.get(str(answer).strip().lower(), str(answer).strip().lower())
        if value not in ANSWERS:
            raise SessionError(f"answer must be 'real' or 'synthetic', not {answer!r}")
        return value

    def _checked_tumor(self, tumor: bool | None) -> str | None:
        if not self.settings.ask_tumor:
            if tumor is not None:
                raise SessionError("this study does not ask about tumors")
            return None
        if tumor is None:
            raise SessionError("this study asks tumor / non-tumor for every image")
        return "yes" if tumor else "no"

    def _checked_confidence(self, confidence: int | None) -> int | None:
        levels = self.settings.confidence_levels
        if not levels:
            if confidence is not None:
                raise SessionError("this study does not ask for confidence")
            return None
        if confidence is None or not 1 <= int(confidence) <= levels:
            raise SessionError(f"confidence must be 1..{levels} for every image")
        return int(confidence)

    def _first_unanswered(self) -> int:
        for i, sid in enumerate(self.order):
            if sid not in self.answers:
                return i
        return len(self.order)

    def _open_locked(self) -> int:
        existed = self.path.exists()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)  # the organiser merges them
        except OSError as exc:
            raise SessionWriteError(f"cannot open the session file {self.path}: {_why(exc)}. "
                                    "Free some space or choose a writable copy of the study folder.") from exc
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise SessionLockedError(f"reader {self.reader!r} already has this study open in another "
                                         "window or program; close that one first.") from None
        if not existed:
            from ..io import fsync_dir

            fsync_dir(self.path.parent)  # the new file's name must survive a crash too
        return fd

    def _resume(self) -> None:
        size = os.fstat(self._fd).st_size
        data = os.pread(self._fd, size, 0) if size else b""
        records, valid_end = _parse(data, str(self.path))
        if valid_end < len(data):  # torn tail from a crash: cut it so new lines start cleanly
            os.ftruncate(self._fd, valid_end)
            os.fsync(self._fd)
        known = set(self.study.stimulus_ids)
        for record in records:
            if record["stimulus_id"] not in known or reader_key(record.get("reader", self.reader)) != self.reader:
                raise SessionError(f"{self.path}: belongs to another study or reader "
                                   f"(stimulus {record['stimulus_id']}, reader {record.get('reader')}).")
            self.answers[record["stimulus_id"]] = record  # the last answer counts (revisions)

    def _append(self, record: dict) -> None:
        """Append one line durably, or leave the file as it was and raise :class:`SessionWriteError`."""
        if self._fd is None:
            raise SessionError("the session is closed; open it again to continue")
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        start = os.fstat(self._fd).st_size
        try:
            view = memoryview(line)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as exc:
            kept = f"your {len(self.answers)} earlier answer(s) are saved"
            try:  # a partial line would glue onto the next answer: cut back to the last complete one
                os.ftruncate(self._fd, start)
            except OSError:
                self.close()  # reopening drops the torn tail
                kept += "; close and reopen the session before answering again"
            else:
                try:
                    os.fsync(self._fd)
                except OSError:
                    pass  # the cut stands for this process; a torn tail is dropped on reopening anyway
            full = exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
            raise SessionWriteError(f"answer to image {record['stimulus_id']} NOT saved: {_why(exc)} "
                                    f"({self.path}). {kept[0].upper() + kept[1:]}. "
                                    f"{'Free some space' if full else 'Fix that'}, then give this answer again.") \
                from exc
