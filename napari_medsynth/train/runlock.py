"""One training run per output folder: the lock file ``OUT/train.lock``.

Two trainers writing to one folder would interleave their checkpoints and prune each other's.
A trainer therefore creates ``OUT/train.lock`` atomically (``O_CREAT | O_EXCL``: of two
processes only one can create it) holding its pid, host, start time and command, and removes it
when it ends, however it ends (finished, stopped by Ctrl-C or SIGTERM, failed). A second trainer
on the folder is refused with a message naming the holder.

A lock left by a process that was killed (SIGKILL, power loss) is *stale*. On the same host this
is certain (its pid is no longer running): the new trainer takes it over and says so in a warning
that names the old holder. A lock from another host cannot be checked from here and is refused;
the message says to delete the file once that run is known to be over. (A pid reused by an
unrelated process keeps a stale lock looking alive; the message says what to delete then, too.)
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

LOCK_NAME = "train.lock"


class RunLockError(ValueError):
    """The output folder is in use by another training run (or its lock cannot be made)."""


@dataclass
class RunLock:
    """A held lock; :meth:`release` removes the file if it is still this lock's."""

    path: Path
    token: str
    #: The message about a stale lock this one replaced (None when there was none).
    took_over: str | None = None
    #: The lock created the output folder (removed again by :meth:`release` if the run left it empty).
    created_folder: bool = False

    def release(self) -> None:
        info = _read(self.path)
        if isinstance(info, dict) and info.get("token") == self.token:
            self.path.unlink(missing_ok=True)
        if self.created_folder:
            try:
                self.path.parent.rmdir()  # only if empty: a run that failed at once leaves no folder
            except OSError:
                pass


def _holder(info: dict[str, Any]) -> str:
    return (f"process {info.get('pid')} on host {info.get('host')}, started {info.get('started', '?')}"
            + (f" ({info['command']})" if info.get("command") else ""))


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (True when that cannot be told)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return kernel32.GetLastError() == 5  # access denied: it exists
        code = ctypes.c_ulong()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return not ok or code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, as another user
        return True
    return True


def _read(path: Path) -> dict[str, Any] | str | None:
    """The lock's contents; None if the file is gone; a string saying why it is unreadable."""
    for _ in range(20):  # the holder may be between creating the file and writing it
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            return str(exc)
        if text.strip():
            try:
                info = json.loads(text)
            except json.JSONDecodeError as exc:
                return f"not JSON ({exc})"
            if isinstance(info, dict) and isinstance(info.get("pid"), int) and isinstance(info.get("host"), str):
                return info
            return "no pid and host in it"
        time.sleep(0.05)
    return "it is empty"


def acquire_run_lock(out_dir: str | os.PathLike) -> RunLock:
    """Take ``OUT/train.lock`` or raise :class:`RunLockError` naming who holds it (see the module docstring)."""
    folder = Path(out_dir)
    path = folder / LOCK_NAME
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunLockError(f"cannot create the output folder {folder}: {exc.strerror or exc}") from None
    host, token = socket.gethostname(), uuid.uuid4().hex
    mine = {"pid": os.getpid(), "host": host, "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv), "token": token}
    took_over = None
    for _ in range(10):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            info = _read(path)
            if info is None:  # released meanwhile: try again
                continue
            if isinstance(info, str):
                raise RunLockError(f"{folder} has a lock file {path} that does not say who holds it ({info}); if no "
                                   "training runs on this folder, delete the file and start again") from None
            if info["host"] != host:
                raise RunLockError(f"{folder} is in use by another training run: {_holder(info)} (lock file {path}). "
                                   "It runs on another machine, so it cannot be checked from here: wait for it to "
                                   "finish or choose another output folder; if that run is over (it was killed), "
                                   "delete the lock file and start again") from None
            if info["pid"] == os.getpid() or pid_alive(info["pid"]):
                which = "this process (another run started here)" if info["pid"] == os.getpid() else "a process"
                raise RunLockError(f"{folder} is in use by another training run, {which}: {_holder(info)} "
                                   f"(lock file {path}). Wait for it to finish, stop it, or choose another output "
                                   "folder; if no training runs there (the pid now belongs to something else), "
                                   "delete the lock file and start again") from None
            if _remove_if_unchanged(path, info):
                took_over = (f"took over the stale lock {path} of {_holder(info)}, which no longer runs (it was "
                             "probably killed); its checkpoints are kept")
            continue
        except OSError as exc:
            raise RunLockError(f"cannot create the lock file {path}: {exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(mine, indent=2) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise RunLockError(f"cannot write the lock file {path}: {exc.strerror or exc}") from None
        return RunLock(path, token, took_over, created)
    raise RunLockError(f"could not take the lock file {path}: other processes keep changing it")


def _remove_if_unchanged(path: Path, stale: dict[str, Any]) -> bool:
    """Remove the stale lock ``path`` unless another process replaced it meanwhile.

    Renaming is atomic: of two processes taking over the same stale lock, one renames it away; the
    other's rename fails, or (if a fresh lock was created meanwhile) moves a lock that is not the
    stale one, which it notices and puts back.
    """
    aside = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    moved = _read(aside)
    if isinstance(moved, dict) and all(moved.get(k) == stale.get(k) for k in ("pid", "host", "started", "token")):
        aside.unlink(missing_ok=True)
        return True
    os.rename(aside, path)  # a live lock: put it back
    return False
