"""Subcommand ``labels7``: the 7-class complete label map of a BraTS case folder.

    napari-medsynth labels7 CASE_DIR --out FILE [--modality t1|t1ce|t2|flair]

Tumor classes come from the case's ``_seg``; WM / GM / CSF from the T1 (else the T1-Gd, or the
named sequence) by :func:`napari_medsynth.tissues.segment_tissues`. The map is written on the
image's voxel grid and affine; a per-class volume summary is printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MODALITIES = ("t1", "t1ce", "t2", "flair")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "labels7", help="make the 7-class complete label map (tumor + WM/GM/CSF) of a BraTS case",
        description="Make the 7-class complete label map of the PGGAN+SPADE paper (0 BG, 1 NCR/NET, 2 ED, 3 ET, "
                    "4 WM, 5 GM, 6 CSF) for a BraTS case folder: tumor classes from its _seg file, white matter, "
                    "grey matter and CSF from the T1 (else T1-Gd) intensities inside the brain (bias-field "
                    "correction, a 3-class Gaussian mixture and a Potts-MRF smoothing step).")
    p.add_argument("case", help="BraTS case folder (with <case>_seg and <case>_t1 or _t1ce .nii.gz files)")
    p.add_argument("--out", required=True, help="output label map (.nii/.nii.gz), e.g. CASE_labels7.nii.gz")
    p.add_argument("--modality", choices=MODALITIES, default=None,
                   help="one sequence to take the tissue classes from (default: the T1, else T1-Gd, together "
                        "with the T2 and FLAIR the case has)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_labels7)


def _labels7(args) -> int:
    from ..io import is_nifti_path

    case, out = Path(args.case), Path(args.out)
    if not case.exists():
        raise FileNotFoundError(f"case folder {case} not found")
    if not case.is_dir():
        raise ValueError(f"{case} is not a folder; give a BraTS case folder (one patient's .nii.gz files)")
    if not is_nifti_path(out):
        raise ValueError(f"--out {out.name}: choose a .nii or .nii.gz file name")

    from ..case_tissues import labels7_for_case, write_labels7

    def progress(done: float, total: float, message: str = "") -> None:
        if not args.quiet:
            print(f"\r{100 * done / max(total, 1e-12):5.1f} %  {message:<48}", end="", file=sys.stderr, flush=True)

    labels7, ref, info = labels7_for_case(case, args.modality, progress=progress)
    if not args.quiet:
        print(file=sys.stderr)
    write_labels7(labels7, ref, out)
    print(f"wrote {out}: 7-class map of {info['case']} on the grid of {Path(ref.path).name} "
          f"(tissues from {info['modality']}, {info['seconds']:.1f} s)")
    means = ", ".join(_mean_text(k, v) for k, v in info["means"].items())
    if means:
        print(f"  class means ({info['modality']}, bias-corrected{', z-scored' if '+' in info['modality'] else ''}): "
              f"{means}")
    for value, (name, ml) in enumerate(info["ml"].items()):
        if value:
            print(f"  {value} {name:<8} {ml:9.1f} ml  ({info['voxels'][name]} voxels)")
    for warning in info["warnings"]:
        print(f"napari-medsynth labels7: warning: {warning}", file=sys.stderr)
    return 0


def _mean_text(name: str, value) -> str:
    """``WM 512`` for one sequence, ``WM (t1 0.8, t2 -0.9)`` for several."""
    if isinstance(value, dict):
        return f"{name} ({', '.join(f'{m} {v:.2f}' for m, v in value.items())})"
    return f"{name} {value:.4g}"
