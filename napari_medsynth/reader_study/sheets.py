"""The organizer's tables: the answer key, blank and filled answer sheets, merged session files.

Answer sheets are filled by people, often in a spreadsheet program, so reading them is forgiving
about form (a BOM, ``;`` or tab separators, any letter case, R/F/S shorthands) and strict about
content: an unknown stimulus id, an answer that is neither real nor synthetic, or a second answer
by the same reader to the same image stops the import with the file and line to fix.

Key CSV: ``stimulus_id,source,tumor,group`` (+ ``origin``: the source file, for the organizer).
Answer CSV: ``stimulus_id,answer,tumor_answer,reader`` (+ ``confidence`` where asked).
"""

from __future__ import annotations

import csv
import io
import os
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from ..io import atomic_write_text
from .session import ANSWERS, read_session_file
from .study import StudyError, reader_key

KEY_COLUMNS = ("stimulus_id", "source", "tumor", "group", "origin")
SHEET_COLUMNS = ("stimulus_id", "answer", "tumor_answer", "reader")

_ANSWER_WORDS = {"real": "real", "r": "real", "synthetic": "synthetic", "s": "synthetic",
                 "fake": "synthetic", "f": "synthetic"}
_YES = {"yes", "y", "tumor", "tumour", "t", "true", "1"}
_NO = {"no", "n", "non-tumor", "non-tumour", "nontumor", "false", "0"}


class SheetError(StudyError):
    """A key or answer file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class KeyEntry:
    stimulus_id: str
    source: str  # "real" | "synthetic"
    tumor: bool | None
    group: str
    origin: str = ""


@dataclass(frozen=True)
class Answer:
    stimulus_id: str
    reader: str
    answer: str  # "real" | "synthetic"
    tumor_answer: bool | None = None
    confidence: int | None = None
    where: str = ""  # file and line, for messages


@dataclass
class AnswerSet:
    """Answers read from one or more files, plus notes worth telling the organizer."""

    answers: list[Answer]
    notes: list[str]


def parse_answer(value: str) -> str | None:
    """'real'/'synthetic' from real, synthetic, fake, R, S, F in any case; None when blank."""
    text = (value or "").strip().lower()
    if not text:
        return None
    if text not in _ANSWER_WORDS:
        raise ValueError(f"answer {value!r} is not real/synthetic (R, S or F also work)")
    return _ANSWER_WORDS[text]


def parse_yes_no(value: str) -> bool | None:
    text = (value or "").strip().lower()
    if not text:
        return None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError(f"{value!r} is not yes/no (tumor/non-tumor)")


def yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


# ---- key ---------------------------------------------------------------------------------------

def write_key(path: str | os.PathLike, entries: list[KeyEntry]) -> Path:
    """The answer key, created readable by its owner only (0600), atomically, never over another file."""
    from .private import write_private_text

    rows = [(e.stimulus_id, e.source, yes_no(e.tumor), e.group, e.origin)
            for e in sorted(entries, key=lambda e: e.stimulus_id)]
    return write_private_text(path, csv_text(KEY_COLUMNS, rows))


def read_key(path: str | os.PathLike) -> dict[str, KeyEntry]:
    path = Path(path)
    rows = _read_rows(path, required=("stimulus_id", "source", "group"))
    key: dict[str, KeyEntry] = {}
    for line, row in rows:
        where = f"{path.name} line {line}"
        sid = row["stimulus_id"].strip()
        source = row["source"].strip().lower()
        if not sid:
            raise SheetError(f"{where}: stimulus_id is empty.")
        if source not in ANSWERS:
            raise SheetError(f"{where}: source {row['source']!r} must be 'real' or 'synthetic'.")
        if sid in key:
            raise SheetError(f"{where}: stimulus {sid} appears twice in the key.")
        try:
            tumor = parse_yes_no(row.get("tumor", ""))
        except ValueError as exc:
            raise SheetError(f"{where}: tumor {exc}.") from exc
        key[sid] = KeyEntry(sid, source, tumor, row["group"].strip() or "all", row.get("origin", "").strip())
    if not key:
        raise SheetError(f"{path.name}: the key lists no stimuli.")
    return key


# ---- answers -----------------------------------------------------------------------------------

def write_blank_sheet(path: str | os.PathLike, stimulus_ids, confidence: bool = False) -> Path:
    columns = SHEET_COLUMNS + (("confidence",) if confidence else ())
    rows = [(sid,) + ("",) * (len(columns) - 1) for sid in stimulus_ids]
    return atomic_write_text(path, csv_text(columns, rows))


def write_answers(path: str | os.PathLike, answers: list[Answer]) -> Path:
    columns = SHEET_COLUMNS + ("confidence",)
    rows = [(a.stimulus_id, a.answer, yes_no(a.tumor_answer), a.reader,
             "" if a.confidence is None else a.confidence) for a in answers]
    return atomic_write_text(path, csv_text(columns, rows))


def read_answers(paths, key: dict[str, KeyEntry] | None = None) -> AnswerSet:
    """Answers from filled sheets (``.csv``) and/or session files (``.jsonl``), checked against
    the key; one reader answering one stimulus twice (across all files) is an error."""
    answers: list[Answer] = []
    notes: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    spellings: dict[str, set[str]] = defaultdict(set)
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"answer file not found: {path}")
        found = _session_answers(path) if path.suffix.lower() == ".jsonl" else _sheet_answers(path, notes)
        for a in found:
            spellings[reader_key(a.reader)].add(a.reader)
            a = replace(a, reader=reader_key(a.reader))  # 'Twin' and 'twin' are one reader
            if key is not None and a.stimulus_id not in key:
                raise SheetError(f"{a.where}: stimulus {a.stimulus_id} is not in the key "
                                 "(wrong key, or a typo in the id).")
            first = seen.setdefault((a.reader, a.stimulus_id), a.where)
            if first != a.where:
                raise SheetError(f"{a.where}: reader {a.reader!r} answered stimulus {a.stimulus_id} twice "
                                 f"(first at {first}); keep one answer.")
            answers.append(a)
    for reader, names in sorted(spellings.items()):
        if len(names) > 1:
            notes.append(f"reader ids {', '.join(repr(n) for n in sorted(names))} differ only in letter case and "
                         f"are counted as one reader {reader!r}.")
    if key is not None:
        for reader in sorted({a.reader for a in answers}):
            n = sum(a.reader == reader for a in answers)
            if n < len(key):
                notes.append(f"reader {reader!r} answered {n} of {len(key)} images; the rest are not scored.")
    return AnswerSet(answers, notes)


def _sheet_answers(path: Path, notes: list[str]) -> list[Answer]:
    rows = _read_rows(path, required=("stimulus_id", "answer"))
    out = []
    blank = 0
    for line, row in rows:
        where = f"{path.name} line {line}"
        sid = row["stimulus_id"].strip()
        if not sid:
            raise SheetError(f"{where}: stimulus_id is empty.")
        try:
            answer = parse_answer(row["answer"])
            tumor = parse_yes_no(row.get("tumor_answer", ""))
            conf_text = (row.get("confidence") or "").strip()
            confidence = int(conf_text) if conf_text else None
        except ValueError as exc:
            raise SheetError(f"{where}: {exc}.") from exc
        if answer is None:
            blank += 1
            continue
        reader = (row.get("reader") or "").strip() or path.stem
        out.append(Answer(sid, reader, answer, tumor, confidence, where))
    if blank:
        notes.append(f"{path.name}: {blank} row(s) have no answer and are not scored.")
    return out


def _session_answers(path: Path) -> list[Answer]:
    latest: dict[str, Answer] = {}
    for i, rec in enumerate(read_session_file(path), start=1):
        reader = str(rec.get("reader") or path.stem)
        latest[rec["stimulus_id"]] = Answer(rec["stimulus_id"], reader, rec["answer"],
                                            parse_yes_no(rec.get("tumor_answer") or ""),
                                            rec.get("confidence"), f"{path.name} line {i}")
    return list(latest.values())  # a revised answer replaces the earlier one


# ---- CSV plumbing ------------------------------------------------------------------------------

def csv_text(columns, rows) -> str:
    """CSV text with a header row and '\\n' line ends (quoting where a cell needs it)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def _read_rows(path: Path, required) -> list[tuple[int, dict]]:
    """(line number, row) pairs with lower-case, stripped column names; blank rows skipped."""
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")  # spreadsheet programs on older systems
    if not text.strip():
        raise SheetError(f"{path.name}: the file is empty.")
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    reader.fieldnames = [(name or "").strip().lower() for name in reader.fieldnames or []]
    missing = [c for c in required if c not in reader.fieldnames]
    if missing:
        raise SheetError(f"{path.name}: missing column(s) {', '.join(missing)}; "
                         f"found {', '.join(reader.fieldnames) or 'none'}.")
    rows = []
    for row in reader:
        clean = {k: (v if isinstance(v, str) else "") for k, v in row.items() if k is not None}
        if any(v.strip() for v in clean.values()):
            rows.append((reader.line_num, clean))
    return rows
