"""Grade or class of each case of a dataset folder, and where it came from.

In order: classes the user gives (a dict case -> class, or a CSV file with columns case,class), a
BraTS 2019/2020 ``name_mapping.csv`` (columns ``Grade`` and ``BraTS_20xx_subject_ID``, any year,
matched leniently) in the dataset folder or a folder directly below it, a parent folder named
``HGG`` or ``LGG`` (the BraTS 2018 layout), else ``unknown``.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from ..io.case import CaseFiles
from ..train.data import DatasetError


def read_class_csv(path: str | os.PathLike) -> dict[str, str]:
    """case -> class from a CSV file: columns named case and class (or id/patient/subject and
    grade/label/group), else the first two columns."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if any(cell.strip() for cell in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"classes file {path}: cannot read it ({exc})") from exc
    if not rows:
        raise DatasetError(f"classes file {path} is empty; expected columns case,class")
    head = [c.strip().lower() for c in rows[0]]
    case_col = next((i for i, h in enumerate(head) if h in ("case", "case_id", "id", "patient", "subject")), None)
    class_col = next((i for i, h in enumerate(head) if h in ("class", "grade", "label", "group")), None)
    if case_col is not None and class_col is not None:
        rows = rows[1:]
    else:
        case_col, class_col = 0, 1
    out = {}
    for r in rows:
        if len(r) > max(case_col, class_col) and r[case_col].strip() and r[class_col].strip():
            out[r[case_col].strip()] = r[class_col].strip()
    if not out:
        raise DatasetError(f"classes file {path}: no row with a case and a class (expected columns case,class)")
    return out


def read_name_mapping(root: Path) -> tuple[dict[str, str], str]:
    """subject id -> grade from a BraTS ``name_mapping.csv`` in ``root`` or one folder below."""
    files = sorted(root.glob("name_mapping*.csv")) + sorted(root.glob("*/name_mapping*.csv"))
    out: dict[str, str] = {}
    used = []
    for file in files:
        try:
            with open(file, newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                fields = {f: re.sub(r"[^a-z0-9]", "", f.lower()) for f in (reader.fieldnames or [])}
                grade = next((f for f, n in fields.items() if "grade" in n), None)
                ids = [f for f, n in fields.items() if "subjectid" in n or n == "id"]
                if grade is None or not ids:
                    continue
                for row in reader:
                    g = (row.get(grade) or "").strip()
                    for f in ids:
                        if g and (row.get(f) or "").strip():
                            out.setdefault(row[f].strip(), g)
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        used.append(file.relative_to(root).as_posix())
    return out, ", ".join(used)


def resolve_classes(root: Path, cases: list[CaseFiles], classes=None) -> dict[str, tuple[str, str]]:
    """case id -> (class, where it came from)."""
    given = None
    if isinstance(classes, (str, os.PathLike)):
        given, given_source = read_class_csv(classes), f"classes file {Path(classes).name}"
    elif classes is not None:
        given, given_source = {str(k): str(v) for k, v in dict(classes).items()}, "classes given"
    if given is not None and not any(c.case in given for c in cases):
        raise DatasetError(f"the classes given name none of the {len(cases)} case(s) (e.g. {cases[0].case}); "
                           "check the case ids in the classes file")
    mapping, mapping_file = read_name_mapping(root)
    out = {}
    for found in cases:
        parents = [p.upper() for p in found.folder.relative_to(root.parent).parts[:-1]]
        if given is not None and found.case in given:
            out[found.case] = (given[found.case], given_source)
        elif found.case in mapping:
            out[found.case] = (mapping[found.case], mapping_file)
        elif "HGG" in parents or "LGG" in parents:
            grade = "HGG" if "HGG" in parents else "LGG"
            out[found.case] = (grade, f"folder {grade}")
        else:
            out[found.case] = ("unknown", "none")
    return out
