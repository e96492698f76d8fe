"""napari sample data: two real gliomas (TCGA-LGG, automatic labels) and brains with simulated gliomas."""

from __future__ import annotations

import json
from pathlib import Path

from ._reader import read_path

#: Real lower-grade gliomas from TCGA-LGG (TCIA, CC BY 3.0); their tumor labels are automatic.
REAL_CASES = ("TCGA-DU-7294", "TCGA-FG-6692")
#: The case the app opens by default: a real scan.
DEFAULT_CASE = REAL_CASES[0]
#: A simulated glioma in real atlas anatomy: its labels are exact (the simulation's own).
GLIOMA_CASE = "MSYN-001"
HEALTHY_CASE = "MSYN-H01"

AUTOMATIC_NOTE = "automatic segmentation, not an expert label"


def sample_data_dir() -> Path:
    """Folder holding the shipped cases: inside the installed package, or the repository's sample_data/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_bundled_sample_data", here.parent / "sample_data"):
        if (candidate / "cases.json").is_file():
            return candidate
    raise FileNotFoundError(
        "The napari-medsynth sample cases were not found (looked in the installed package and the "
        "repository's sample_data/ folder). Reinstall the package to restore them."
    )


def sample_case_dir(case_id: str = DEFAULT_CASE) -> Path:
    folder = sample_data_dir() / case_id
    if not folder.is_dir():
        raise FileNotFoundError(f"Sample case {case_id} is missing from {sample_data_dir()}.")
    return folder


def list_sample_cases(real: bool | None = None) -> list[dict]:
    """Per-case records from ``cases.json`` (id, tumor, volumes in ml, ...); ``real`` filters
    to the real (True) or the simulated (False) cases."""
    cases = list(json.loads((sample_data_dir() / "cases.json").read_text()).values())
    if real is None:
        return cases
    return [c for c in cases if bool(c.get("real")) == real]


def load_real_case(case_id: str = DEFAULT_CASE) -> list[tuple]:
    """A real glioma: T1, T1-Gd, T2, FLAIR and its automatic tumor segmentation (and tissue map)."""
    layers = _with_hidden_complete_map(read_path(sample_case_dir(case_id)))
    for _, meta, kind in layers:
        if kind == "labels":
            _mark_automatic(meta)
    return layers


def load_real_case_2() -> list[tuple]:
    return load_real_case(REAL_CASES[1])


def load_glioma_case() -> list[tuple]:
    """T1-Gd with a simulated glioma, its BraTS labels and the 7-class complete map."""
    return _with_hidden_complete_map(read_path(sample_case_dir(GLIOMA_CASE)))


def load_healthy_case() -> list[tuple]:
    """A tumor-free T1-Gd with its tissue map."""
    return _with_hidden_complete_map(read_path(sample_case_dir(HEALTHY_CASE)))


def _mark_automatic(meta: dict) -> None:
    """Say on the layer itself that its labels are automatic: in every class name and the metadata."""
    features = meta.get("features")
    if features and "class" in features:
        features["class"] = [name if i == 0 else f"{name} [{AUTOMATIC_NOTE}]"
                             for i, name in enumerate(features["class"])]
    meta.setdefault("metadata", {})["labels_source"] = AUTOMATIC_NOTE


def _with_hidden_complete_map(layers: list[tuple]) -> list[tuple]:
    for _, meta, _kind in layers:
        if meta["name"].endswith("_labels7"):
            meta["visible"] = False
    return layers
