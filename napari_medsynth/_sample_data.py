"""napari sample data: brain MR (real SRI24 anatomy) with simulated gliomas, BraTS layout."""

from __future__ import annotations

import json
from pathlib import Path

from ._reader import read_path

GLIOMA_CASE = "MSYN-001"
HEALTHY_CASE = "MSYN-H01"


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


def sample_case_dir(case_id: str = GLIOMA_CASE) -> Path:
    folder = sample_data_dir() / case_id
    if not folder.is_dir():
        raise FileNotFoundError(f"Sample case {case_id} is missing from {sample_data_dir()}.")
    return folder


def list_sample_cases() -> list[dict]:
    """Per-case generation record from ``cases.json`` (id, seed, tumor, volumes in ml, ...)."""
    return list(json.loads((sample_data_dir() / "cases.json").read_text()).values())


def load_glioma_case() -> list[tuple]:
    """T1-Gd with a simulated glioma, its BraTS labels and the 7-class complete map."""
    return _with_hidden_complete_map(read_path(sample_case_dir(GLIOMA_CASE)))


def load_healthy_case() -> list[tuple]:
    """A tumor-free T1-Gd with its tissue map."""
    return _with_hidden_complete_map(read_path(sample_case_dir(HEALTHY_CASE)))


def _with_hidden_complete_map(layers: list[tuple]) -> list[tuple]:
    for _, meta, _kind in layers:
        if meta["name"].endswith("_labels7"):
            meta["visible"] = False
    return layers
