"""Subcommands ``open`` and ``info``: look at MR volumes from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("open", help="open NIfTI files or BraTS case folders in napari",
                       description="Open NIfTI files or BraTS case folders in napari with the plugin's widgets.")
    p.add_argument("paths", nargs="+", help=".nii/.nii.gz files or BraTS case folders")
    p.set_defaults(func=_open)

    p = sub.add_parser("info", help="print geometry and contents of NIfTI files or case folders",
                       description="Print shape, voxel size, orientation and label counts without a GUI.")
    p.add_argument("paths", nargs="+", help=".nii/.nii.gz files or BraTS case folders")
    p.add_argument("--kind", choices=("auto", "image", "labels"), default="auto",
                   help="override the image/labels decision for single files (default: auto)")
    p.set_defaults(func=_info)


def _open(args) -> int:
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"not found: {', '.join(missing)}")
    for path in args.paths:  # what can be refused from names and headers, before napari starts
        _check_openable(Path(path))

    from .._reader import session_reader_env
    from ..widgets.launch import launch

    session_reader_env()  # File > Open in this session uses this plugin for NIfTI files and folders
    launch(args.paths)
    return 0


def _check_openable(p: Path) -> None:
    from .._reader import MAX_CASES
    from ..io import is_nifti_path
    from ..io.case import cases_in
    from ..io.nifti_checks import read_checked_header

    if p.is_dir():
        cases = cases_in(p)
        if len(cases) > MAX_CASES:
            raise ValueError(f"{p.name}: holds {len(cases)} case folders, more than the {MAX_CASES} opened at once; "
                             "open one case folder, or a folder with fewer cases")
    elif not is_nifti_path(p):
        raise ValueError(f"{p.name}: not a NIfTI file name (.nii / .nii.gz)")
    else:
        read_checked_header(p)


def _info(args) -> int:
    import numpy as np
    from nibabel.orientations import ornt2axcodes

    from ..io import read_case, read_volume
    from ..io.case import cases_in

    for path in args.paths:
        p = Path(path)
        if p.is_dir():
            cases = cases_in(p)
            if not (len(cases) == 1 and cases[0].folder == p):
                _describe_cases(p, cases)
                continue
        volumes = read_case(p) if p.is_dir() else [read_volume(p, kind=args.kind)]
        for v in volumes:
            stored = "".join(ornt2axcodes(v.source_ornt))
            print(f"{Path(v.path).name}: {v.kind}, display shape {v.data.shape} (S,P,L), "
                  f"voxel {tuple(round(s, 3) for s in v.spacing)} mm, stored {stored}, dtype {v.data.dtype}")
            if v.kind == "labels":
                values, counts = np.unique(v.data, return_counts=True)
                print("  labels: " + ", ".join(f"{a}: {b}" for a, b in zip(values.tolist(), counts.tolist())))
            else:
                nz = v.data[v.data != 0]
                if nz.size:
                    print(f"  non-zero voxels: {nz.size}, range {nz.min():.4g}..{nz.max():.4g}")
    return 0


NAMINGS = {"brats2018": "BraTS 2018-2021 names", "brats2023": "BraTS 2023 names"}


def _describe_cases(root: Path, cases) -> None:
    """A folder of case folders: one line per case (its sequences, the stored grid from the first
    file's header); the voxels are not read."""
    from .._reader import MAX_CASES
    from ..io import CASE_SUFFIXES
    from ..io.nifti_checks import read_checked_header

    n = len(cases)
    print(f"{root.name}: {n} case folder{'s' if n > 1 else ''}")
    for c in cases:
        where = c.folder.relative_to(root).as_posix()
        kinds = [k for k in CASE_SUFFIXES if k in c.files]
        first = c.files[kinds[0]] if kinds else sorted(c.others)[0]
        try:
            grid = "x".join(str(d) for d in read_checked_header(first).shape)
        except ValueError as exc:  # a damaged file: say so here, and go on with the other cases
            grid = f"unreadable {first.name} ({exc})"
        others = f" + {len(c.others)} other NIfTI file(s)" if c.others else ""
        name = "" if c.case == c.folder.name else f" (case {c.case})"
        print(f"  {where}{name}: {', '.join(kinds) or 'no BraTS-named files'}{others}; {grid}; "
              f"{NAMINGS.get(c.naming, c.naming)}")
    opens = (f"napari opens all {n} from this folder" if n <= MAX_CASES
             else f"napari opens at most {MAX_CASES} cases from one folder: open one case folder")
    print(f"geometry and labels of a case: napari-medsynth info {root / cases[0].folder.relative_to(root)}; {opens}")
