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
    from ..widgets.launch import launch

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"not found: {', '.join(missing)}")
    launch(args.paths)
    return 0


def _info(args) -> int:
    import numpy as np
    from nibabel.orientations import ornt2axcodes

    from ..io import read_case, read_volume

    for path in args.paths:
        p = Path(path)
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
