"""Subcommand ``crops``: add a patient's tumor crops and tumor-free slices to a SAGE crop dataset.

``crops migrate DIR`` rewrites a dataset folder of an older format version in the current one.
"""

from __future__ import annotations

import argparse
from functools import partial


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "crops", help="extract tumor crops (TC/BTC) and tumor-free slices (PHI) into a crop dataset",
        description="Extract tumor crops (TC), binary tumor crops (BTC) and tumor-free axial slices (PHI) "
                    "of one patient from an image and its tumor label map, and add them to a crop "
                    "dataset folder (created on first use). Run it once per patient to grow one dataset. "
                    "Without --labels the image is a tumor-free volume that contributes only PHI. "
                    "'crops migrate DIR' converts a dataset folder of an older format version.")
    p.add_argument("--image", help="MR volume (.nii/.nii.gz), e.g. the T1-Gd (required)")
    p.add_argument("--labels", help="tumor label map on the image's grid (e.g. BraTS *_seg.nii.gz); "
                                    "leave out for a tumor-free volume")
    p.add_argument("--out", help="crop dataset folder, created if missing (required)")
    p.add_argument("--class", dest="klass", help="class name of this patient, e.g. control or mutated "
                                                 "(default: tumor with labels, healthy without)")
    p.add_argument("--patient", help="patient id (default: the image file name without modality suffix)")
    p.add_argument("--tumor-labels", help="comma-separated label values that form the tumor "
                                          "(default: every non-zero label)")
    p.add_argument("--crop-size", type=int, default=64, help="side of the square tumor crops in pixels (default 64)")
    p.add_argument("--margin", type=int, default=4, help="pixels around the tumor's bounding box (default 4)")
    p.add_argument("--min-size", type=int, default=50,
                   help="skip slices whose tumor has fewer pixels than this (default 50)")
    p.add_argument("--phi-size", type=int, default=256, help="side of the tumor-free slices in pixels (default 256)")
    p.add_argument("--replace", action="store_true", help="replace the patient if the dataset already has it")
    p.set_defaults(func=partial(_crops, parser=p))
    actions = p.add_subparsers(dest="crops_action", metavar="migrate")
    m = actions.add_parser("migrate", help="rewrite a crop dataset folder of an older format version",
                           description="Rewrite a crop dataset folder written by an older napari-medsynth (one "
                                       "array file for all patients) in the current layout (one folder per "
                                       "patient, so that adding a patient writes only that patient). The data "
                                       "stay the same; a crash leaves the old dataset whole.")
    m.add_argument("dir", help="crop dataset folder")
    m.set_defaults(func=_migrate)


def _tumor_labels(text: str | None):
    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--tumor-labels must be integers separated by commas, like 1,2,4 (got {text!r})") from None
    if not values:
        raise ValueError("--tumor-labels is empty")
    return values


def _crops(args, parser: argparse.ArgumentParser) -> int:
    missing = [flag for flag, value in (("--image", args.image), ("--out", args.out)) if value is None]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")
    from ..sage.crops import add_volume_pair
    from ..sage.dataset import CropSettings

    settings = CropSettings(crop_size=args.crop_size, margin=args.margin, min_tumor_pixels=args.min_size,
                            phi_size=args.phi_size)
    summary = add_volume_pair(args.out, args.image, args.labels, patient=args.patient, klass=args.klass,
                              settings=settings, replace=args.replace, tumor_labels=_tumor_labels(args.tumor_labels))
    print(summary.line())
    return 0


def _migrate(args) -> int:
    from ..sage.dataset import migrate

    print(migrate(args.dir))
    return 0
