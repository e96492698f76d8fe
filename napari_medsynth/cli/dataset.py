"""Subcommand ``dataset``: build and inspect the slice store the 2-D training recipes read.

    napari-medsynth dataset build CASES --out STORE [--modalities t1,t1ce,t2,flair] [--classes CSV]
                                                    [--overwrite | --add]
    napari-medsynth dataset info STORE [--folds K] [--seed S]

``build`` reads every BraTS case folder below CASES once (both namings) and writes a
memory-mapped store (:mod:`napari_medsynth.data.store`); train on it by giving STORE as the data
folder of the spade, pggan-labels, pggan-mr and dcgan recipes.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dataset", help="build and inspect slice stores (the training data of the 2-D recipes)",
                       description="A slice store holds the axial slices of a folder of BraTS cases (MR in "
                                   "[-1, 1] as float16, the 7-class complete map, the tumor labels) as "
                                   "memory-mapped arrays with patient ids and grades, built once per dataset.")
    actions = p.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    b = actions.add_parser("build", help="build a slice store from a folder of BraTS case folders",
                           description="Read every case folder below CASES (<case>_t1ce.nii.gz or <case>-t1c.nii.gz "
                                       "naming) and write the slice store STORE. The complete map of a case comes "
                                       "from its _labels7 file, else its _seg and _tissues maps, else the tissue "
                                       "segmentation step (labels7: a few seconds per case).")
    b.add_argument("cases", metavar="CASES", help="folder holding the case folders, at any depth")
    b.add_argument("--out", required=True, metavar="STORE", help="store folder to create")
    b.add_argument("--modalities", default=None,
                   help="comma-separated subset of t1,t1ce,t2,flair (default: all that every case has)")
    b.add_argument("--classes", default=None, metavar="CSV",
                   help="CSV with columns case,class (default: a BraTS name_mapping.csv in CASES, else HGG/LGG "
                        "parent folders, else 'unknown')")
    b.add_argument("--min-fraction", type=float, default=None,
                   help="store slices whose brain or label map covers at least this fraction (default 0.02)")
    b.add_argument("--normalize", choices=("volume", "brain"), default="volume",
                   help="percentiles (0.5-99.5) over the whole volume, as the folder datasets do (default), "
                        "or over the brain's non-zero voxels")
    mode = b.add_mutually_exclusive_group()
    mode.add_argument("--overwrite", action="store_true", help="rebuild an existing store from scratch")
    mode.add_argument("--add", action="store_true",
                      help="update an existing store: keep unchanged cases, rebuild changed ones, add new ones")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_build)
    i = actions.add_parser("info", help="describe a slice store", description="Cases, classes, slices, modalities "
                                                                             "and an example of patient-wise folds.")
    i.add_argument("store", metavar="STORE")
    i.add_argument("--folds", type=int, default=5, metavar="K", help="folds of the example split (default 5)")
    i.add_argument("--seed", type=int, default=0, help="seed of the example split (default 0)")
    i.set_defaults(func=_info)


def _build(args) -> int:
    from pathlib import Path

    from .train import check_out_folder

    if not Path(args.cases).is_dir():  # before the store's imports (torch): a wrong path fails at once
        raise FileNotFoundError(f"dataset folder {args.cases} does not exist or is not a folder")
    check_out_folder(Path(args.out), "store folder")

    from tqdm import tqdm

    from ..data.store import DEFAULT_MIN_FRACTION, SliceStore
    from ..data.store_build import build_store

    bar = None

    def progress(done: float, total: float, message: str = "") -> None:
        nonlocal bar
        if args.quiet:
            return
        if bar is None:
            bar = tqdm(total=max(int(total), 1), unit="case", file=sys.stderr, mininterval=0.5,
                       bar_format="{l_bar}{bar}| {n:.1f}/{total_fmt} cases [{elapsed}<{remaining}]{postfix}")
        bar.n = float(done)
        bar.set_postfix_str(message[:60], refresh=False)
        bar.refresh()

    try:
        out = build_store(args.cases, args.out, modalities=args.modalities, classes=args.classes,
                          progress=progress, overwrite=args.overwrite, add=args.add, normalize=args.normalize,
                          min_fraction=DEFAULT_MIN_FRACTION if args.min_fraction is None else args.min_fraction)
    finally:
        if bar is not None:
            bar.close()
    print(SliceStore.open(out).describe())
    return 0


def _info(args) -> int:
    from pathlib import Path

    if not Path(args.store).is_dir():
        raise FileNotFoundError(f"slice store {args.store} not found")

    from ..data.store import SliceStore

    store = SliceStore.open(args.store)
    m = store.manifest
    print(store.describe())
    norm = m.get("normalization", {})
    print(f"built {m.get('created', '?')} by {m.get('writer', '?')} from {m.get('source_root', '?')}; "
          f"intensities: {norm.get('low', '?')}-{norm.get('high', '?')} percentiles over the {norm.get('over', '?')}, "
          f"float16 in [-1, 1]")
    tumor = int(store.has_classes((1, 2, 3)).sum())
    print(f"{len(store)} slices, {tumor} with tumor (labels7 classes 1-3)")
    print()
    print(f"{'case':<28} {'class':<10} {'from':<24} {'slices':>6}  {'grid':<12} complete map")
    for rec in store.records:
        grid = "x".join(str(s) for s in rec["shape"][1:])
        print(f"{rec['id']:<28} {rec.get('class', '?'):<10} {rec.get('class_source', '?')[:24]:<24} "
              f"{rec['n_slices']:>6}  {grid:<12} {rec.get('labels7_source', '?')}")
    k = min(args.folds, len(store.cases))
    if k >= 2:
        print()
        print(f"patient-wise {k}-fold split (seed {args.seed}), stratified by class:")
        for n, (train, test) in enumerate(store.folds(k, args.seed)):
            shown = ", ".join(test[:6]) + (", ..." if len(test) > 6 else "")
            print(f"  fold {n + 1}: {len(train)} train, {len(test)} test: {shown}")
    return 0
