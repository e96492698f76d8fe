"""Subcommand ``pggan``: draw label maps from a trained PGGAN.

    napari-medsynth pggan sample --n 100 --out synth_maps/          # shipped checkpoint, 256 x 256
    napari-medsynth pggan sample --n 100 --out maps/ --checkpoint runs/pg/checkpoints/step_00002000.pt \\
        --reference my_cases/

Each map kept by the Z-score filter is written as a 2-D NIfTI label volume
``OUT/<prefix>_<index>_labels7.nii.gz`` (one axial slice, shape (1, H, W) in display orientation,
``256 / size`` mm pixels, so 1 mm at the default size 256), ready for ``spade render`` and napari.
``OUT/summary.json`` records the checkpoint, seed and the filter's report (which indices were
discarded and why); ``OUT/overview.png`` shows the first maps in the COMPLETE7 colours with the
discarded ones framed in magenta.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .threads import add_threads_option
from .train import trust_changed_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pggan", help="sample label maps (or MR slices) from a trained PGGAN",
                       description="Progressive-growing GAN label maps (train them with "
                                   "'napari-medsynth train pggan-labels').")
    actions = p.add_subparsers(dest="pggan_command", metavar="ACTION", required=True)
    s = actions.add_parser(
        "sample", help="draw N label maps, filter them, write NIfTI + summary + overview",
        description="Draw N 7-class label maps, apply the Z-score filter (Foroozandeh & Eklund §3.4) "
                    "against real maps, and write the kept maps as <prefix>_<index>_labels7.nii.gz.")
    s.add_argument("--n", type=int, required=True, metavar="N", help="number of maps to draw")
    s.add_argument("--kind", choices=("labels", "mr"), default="labels",
                   help="labels (default): 7-class maps from a pggan-labels model; mr: MR slices from a "
                        "pggan-mr model (Han et al.), written as .npy images in [0, 1] with JSON sidecars")
    s.add_argument("--class", dest="slice_class", choices=("tumor", "non-tumor"), default=None,
                   help="--kind mr: the tumor or the non-tumor model (one PGGAN per class, as Han et al.); "
                        "default tumor for the shipped models, checked against a --checkpoint's training slices")
    s.add_argument("--out", required=True, metavar="DIR", help="output folder")
    s.add_argument("--checkpoint", metavar="PT", help="pggan-labels (or, --kind mr, pggan-mr) checkpoint "
                                                     "(default: the shipped one)")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="noise seed (default 0)")
    s.add_argument("--size", type=int, default=None, metavar="PX",
                   help="side of the written maps; class logits upsampled (bilinear) from the checkpoint's "
                        "native size (default 256, the renderer's input; --kind mr: the native size)")
    s.add_argument("--no-filter", dest="filter", action="store_false",
                   help="write every map; do not apply the Z-score filter")
    s.add_argument("--filter-method", choices=("size-matched", "paper"), default="size-matched",
                   help="size-matched (default): compare each map with the real maps of similar brain area, "
                        "threshold chosen on the real maps (see --real-quantile); paper: one set of pixel "
                        "statistics and the paper's threshold, which prefers small brains")
    s.add_argument("--real-quantile", type=float, default=None, metavar="Q",
                   help="size-matched filter: keep maps as typical as this fraction of the real maps "
                        "(default 0.99: the threshold discards 1%% of the real maps)")
    s.add_argument("--threshold", type=float, default=None, metavar="T",
                   help="paper filter: Z-score norm threshold for 256x256 maps, scaled for other sizes "
                        "(default 500, the paper's); size-matched filter: a fixed threshold in multiples of "
                        "the median norm of real maps of the same size, instead of --real-quantile")
    s.add_argument("--reference", metavar="DIR",
                   help="real case folders (with _labels7 maps) to compare with; default: the data the "
                        "checkpoint was trained on (the sample cases for the shipped checkpoint)")
    s.add_argument("--prefix", default="pggan", help="file name prefix (default 'pggan')")
    s.add_argument("--overwrite", action="store_true", help="replace the results of an earlier run in OUT")
    add_threads_option(s)
    trust_changed_option(s, _sample, check=_check_sample)


def _reference_folder(args, sampler) -> Path:
    from .._sample_data import sample_data_dir

    if args.reference:
        folder = Path(args.reference)
        if not folder.is_dir():
            raise FileNotFoundError(f"reference folder {folder} does not exist")
        return folder
    if args.checkpoint is None:
        return sample_data_dir()
    trained_on = (sampler.card.get("dataset") or {}).get("path")
    if trained_on and Path(trained_on).is_dir():
        return Path(trained_on)
    raise ValueError(f"the checkpoint was trained on {trained_on or 'an unrecorded folder'}, which is not "
                     "available here; pass --reference DIR with real case folders, or --no-filter")


def _check_sample(args) -> None:
    """Arguments and paths, before torch is imported or the model loaded."""
    from .spade import check_checkpoint_path
    from .train import check_out_folder

    if args.n < 1:
        raise ValueError(f"--n must be at least 1, not {args.n}")
    if args.size is not None and args.size < 4:
        raise ValueError(f"--size must be at least 4 pixels, not {args.size}")
    if not args.prefix or any(c in args.prefix for c in "/\\"):
        raise ValueError(f"--prefix must be a plain file name part, not {args.prefix!r}")
    out = Path(args.out)
    check_out_folder(out, "output folder")
    if (out / "summary.json").exists() and not args.overwrite:
        raise ValueError(f"{out} already holds sampled maps (summary.json); choose another folder or pass "
                         "--overwrite")
    check_checkpoint_path(args.checkpoint)
    if args.kind == "mr" and (args.reference or args.threshold is not None or args.real_quantile is not None):
        raise ValueError("the Z-score filter (--reference, --threshold, --real-quantile) is for label maps; "
                         "--kind mr writes every slice drawn")
    if args.real_quantile is not None:
        if args.filter_method != "size-matched":
            raise ValueError("--real-quantile chooses the threshold of the size-matched filter; the paper filter "
                             "takes --threshold")
        if args.threshold is not None:
            raise ValueError("give either --real-quantile or --threshold, not both")
        if not 0.0 < args.real_quantile <= 1.0:
            raise ValueError(f"--real-quantile must be above 0 and at most 1, not {args.real_quantile}")
    if args.kind == "labels" and args.slice_class:
        raise ValueError("--class chooses an MR model; use it with --kind mr")
    if args.filter and args.reference and not Path(args.reference).is_dir():
        raise FileNotFoundError(f"reference folder {args.reference} does not exist")


def _sample(args) -> int:
    if args.kind == "mr":
        return _sample_mr(args)
    out = Path(args.out)
    threshold = args.threshold
    if threshold is None and args.filter_method == "paper":
        threshold = 500.0
    args.size = 256 if args.size is None else args.size

    import numpy as np

    from ..io.atomic import atomic_write_text
    from ..io.nifti import write_volume
    from ..pggan.cleaning import REAL_QUANTILE, filter_label_maps, real_label_maps, report_dict
    from ..pggan.figures import contact_sheet, save_rgb_png
    from ..pggan.sample import LabelMapSampler

    sampler = LabelMapSampler.load(args.checkpoint)
    reference = _reference_folder(args, sampler) if args.filter else None
    maps = sampler.sample(args.n, args.seed, size=args.size)
    keep = np.ones(len(maps), dtype=bool)
    report = None
    if args.filter:
        real, cases = real_label_maps(reference, args.size, with_cases=True)
        z = filter_label_maps(maps, real, threshold, method=args.filter_method,
                              real_quantile=args.real_quantile or REAL_QUANTILE, real_cases=cases)
        keep, report = z.keep, report_dict(z, threshold)
        print(z.summary(), file=sys.stderr)

    out.mkdir(parents=True, exist_ok=True)
    if args.overwrite:
        for old in out.glob(f"{args.prefix}_*_labels7.nii.gz"):
            old.unlink()
    digits = max(5, len(str(args.n - 1)))
    spacing = 256.0 / args.size
    written = []
    for i in np.flatnonzero(keep):
        name = f"{args.prefix}_{i:0{digits}d}_labels7.nii.gz"
        write_volume(out / name, maps[i][None], kind="labels", spacing=(spacing, spacing, spacing))
        written.append(name)

    step = max(1, args.size // 128)
    shown = maps[:64, ::step, ::step]
    marked = [] if report is None else [i for i in report["discarded_indices"] if i < len(shown)]
    save_rgb_png(out / "overview.png", contact_sheet(shown, columns=8, marked=marked))
    summary = {
        "checkpoint": sampler.path, "checkpoint_sha256": sampler.sha256, "native_size": sampler.size,
        "size": args.size, "pixel_mm": spacing, "seed": args.seed, "n_drawn": args.n,
        "n_written": len(written), "filter": report, "reference": str(reference) if reference else None,
        "class_fractions": {str(c): round(float((maps == c).mean()), 4) for c in range(7)},
        "files": written, "overview": "overview.png",
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(f"wrote {len(written)} of {args.n} maps to {out} (summary.json, overview.png)", file=sys.stderr)
    return 0


def _sample_mr(args) -> int:
    """``--kind mr``: N MR slices as ``<prefix>_mr_<index>.npy`` (float32 in [0, 1]) with sidecars."""
    from ..io.atomic import atomic_write_text, write_npy_with_sidecar
    from ..pggan.sample import MRSliceSampler
    from ..train.previews import save_png

    sampler = MRSliceSampler.load(args.checkpoint, slices=args.slice_class or "tumor")
    if args.checkpoint and args.slice_class and sampler.slices != args.slice_class:
        raise ValueError(f"{Path(args.checkpoint).name} learnt {sampler.slices!r} slices, not {args.slice_class!r}; "
                         "choose the checkpoint of that class")
    images = sampler.sample(args.n, args.seed, size=args.size)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.overwrite:
        for old in [*out.glob(f"{args.prefix}_mr_*.npy"), *out.glob(f"{args.prefix}_mr_*.json")]:
            old.unlink()
    digits = max(5, len(str(args.n - 1)))
    written = []
    for i, image in enumerate(images):
        stem = f"{args.prefix}_mr_{i:0{digits}d}"
        sidecar = {"source": "pggan-mr", "class": sampler.slices, "checkpoint": sampler.path,
                   "checkpoint_sha256": sampler.sha256, "seed": args.seed, "index": i, "native_size": sampler.size,
                   "size": int(image.shape[-1]), "intensity": "[0, 1]: the training scaling [-1, 1] mapped linearly"}
        write_npy_with_sidecar(out, stem, image, sidecar)
        written.append(f"{stem}.npy")
    save_png(out / "overview.png", images[:64] * 2 - 1)
    summary = {"kind": "mr", "class": sampler.slices, "checkpoint": sampler.path, "checkpoint_sha256": sampler.sha256,
               "native_size": sampler.size, "size": int(images.shape[-1]), "seed": args.seed, "n_drawn": args.n,
               "n_written": len(written), "files": written, "overview": "overview.png"}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(f"wrote {len(written)} {sampler.slices} MR slices to {out} (summary.json, overview.png)", file=sys.stderr)
    return 0
