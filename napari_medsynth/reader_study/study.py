"""A study folder as a reader sees it: settings and anonymous stimuli, never the answer key.

Layout::

    STUDY/
      study.json          settings only (no file names, no sources, no per-image facts, nothing
                          derived from the selection seed)
      stimuli/<id>.png    one uncompressed 8-bit PNG per stimulus, <id> a random number
      sessions/<reader>.jsonl   each reader's answers, appended as they are given; <reader> in
                          lower case (reader ids ignore case: macOS and Windows file names do)

The answer key and the study secret live *outside* this folder (see :mod:`.create`), so the
folder can be copied to readers as is. The readers' order key in ``study.json`` is an HMAC of
the secret: it shuffles each reader's order and says nothing about the sources or the names.

This module is all that the reader-side code (:mod:`.session`, the session widget) imports, and
it has no function that reads a key: the session cannot peek at the answers even by accident.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from .rng import HashRandom

STUDY_FILE = "study.json"
STIMULI_DIR = "stimuli"
SESSIONS_DIR = "sessions"
FORMAT = "napari-medsynth reader study"
FORMAT_VERSION = 2  # 2: order_key (from the secret) replaces order_seed (from the seed)

STIMULUS_ID = re.compile(r"^\d+$")
READER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class StudyError(ValueError):
    """The study folder or a reader id is not usable; the message says what to fix."""


@dataclass(frozen=True)
class StudySettings:
    """What a reader's session needs to know; written to ``study.json``."""

    title: str
    n_stimuli: int
    image_size: int
    groups: tuple[str, ...]
    ask_tumor: bool = False
    confidence_levels: int = 0  # 0: not asked; 5: a 1-5 scale
    allow_revise: bool = False
    order_key: str = ""  # hex HMAC of the study secret; studies of format 1 have order_seed instead
    order_seed: int = 0  # format 1 only (drawn from the selection seed: guessable); read, never written

    def to_json(self) -> str:
        data = {"format": FORMAT, "version": FORMAT_VERSION, **asdict(self)}
        data["groups"] = list(self.groups)
        if self.order_key:
            del data["order_seed"]
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = STUDY_FILE) -> StudySettings:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StudyError(f"{where}: not valid JSON ({exc}).") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise StudyError(f"{where}: not a napari-medsynth reader study file.")
        if int(data.get("version", 0)) > FORMAT_VERSION:
            raise StudyError(f"{where}: made by a newer napari-medsynth (format {data['version']}); update it.")
        try:
            return cls(title=str(data["title"]), n_stimuli=int(data["n_stimuli"]),
                       image_size=int(data["image_size"]), groups=tuple(data["groups"]),
                       ask_tumor=bool(data.get("ask_tumor", False)),
                       confidence_levels=int(data.get("confidence_levels", 0)),
                       allow_revise=bool(data.get("allow_revise", False)),
                       order_key=str(data.get("order_key", "")),
                       order_seed=int(data.get("order_seed", 0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise StudyError(f"{where}: missing or malformed setting ({exc}).") from exc


@dataclass(frozen=True)
class Study:
    """A loaded study folder: its settings and the ids of its stimuli (sorted)."""

    folder: Path
    settings: StudySettings
    stimulus_ids: tuple[str, ...]

    def stimulus_path(self, stimulus_id: str) -> Path:
        if stimulus_id not in self.stimulus_ids:
            raise StudyError(f"stimulus {stimulus_id} is not part of this study")
        return self.folder / STIMULI_DIR / f"{stimulus_id}.png"

    def reader_order(self, reader: str) -> list[str]:
        """The order in which ``reader`` sees the stimuli: shuffled per reader, reproducibly, so
        order effects (fatigue, learning) do not hit the same images for every reader."""
        order = list(self.stimulus_ids)
        reader = check_reader_id(reader)
        s = self.settings
        seed = f"order:{s.order_key}:{reader}" if s.order_key else f"order:{s.order_seed}:{reader}"
        HashRandom(seed).shuffle(order)
        return order

    def session_path(self, reader: str) -> Path:
        """``sessions/<reader>.jsonl`` (reader id in lower case). A session file of an older version
        whose name differs only in case is used as is; two such files for one reader are refused."""
        reader = check_reader_id(reader)
        sessions = self.folder / SESSIONS_DIR
        path = sessions / f"{reader}.jsonl"
        found: list[Path] = []
        if sessions.is_dir():
            for p in sorted(sessions.glob("*.jsonl")):
                if p.stem.casefold() == reader and not any(_same_file(p, q) for q in found):
                    found.append(p)
        if len(found) > 1:
            raise StudyError(f"reader {reader!r} has {len(found)} session files whose names differ only in letter "
                             f"case ({', '.join(p.name for p in found)}); reader ids ignore case, so they are one "
                             "reader. Merge them into one file (or rename one to another reader id) and start again.")
        return found[0] if found else path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def reader_key(reader: str) -> str:
    """The form of a reader id used for file names and merging: stripped, letter case ignored."""
    return str(reader or "").strip().casefold()


def check_reader_id(reader: str) -> str:
    """Reader ids name files, so they are restricted to letters, digits, ``_ . -``; returned in lower
    case, so that ``Twin`` and ``twin`` are one reader with one session file (on macOS and Windows
    they would be one file anyway)."""
    reader = (reader or "").strip()
    if not READER_ID.match(reader):
        raise StudyError(f"reader id {reader!r}: use 1-64 letters, digits, '_', '.' or '-', "
                         "starting with a letter or digit (e.g. 'reader1' or 'dr_smith').")
    return reader_key(reader)


def load_study(folder: str | os.PathLike) -> Study:
    """Open a study folder (settings + stimulus list); checks that it is complete."""
    folder = Path(folder)
    settings_file = folder / STUDY_FILE
    if not settings_file.is_file():
        raise StudyError(f"{folder}: not a reader study folder (no {STUDY_FILE}).")
    settings = StudySettings.from_json(settings_file.read_text(encoding="utf-8"), str(settings_file))
    stim_dir = folder / STIMULI_DIR
    ids = sorted(p.stem for p in stim_dir.glob("*.png") if STIMULUS_ID.match(p.stem)) if stim_dir.is_dir() else []
    if len(ids) != settings.n_stimuli:
        raise StudyError(f"{folder}: incomplete study: {STUDY_FILE} lists {settings.n_stimuli} images, "
                         f"{STIMULI_DIR}/ holds {len(ids)}.")
    return Study(folder=folder, settings=settings, stimulus_ids=tuple(ids))
