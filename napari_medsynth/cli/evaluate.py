"""``napari-medsynth evaluate``: the evaluation report of a synthetic image folder against a real one."""

from __future__ import annotations

import argparse
import sys

from .threads import add_threads_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="IS/FID/SSIM/SWD, machine Turing test, t-SNE, clusters and optionally "
                       "the downstream experiment; writes report.md, report.json and figures",
                       description="Evaluate synthetic images against real ones. An image set is a folder of .npy "
                       "(H,W)/(N,H,W), NIfTI volumes (axial slices) and/or PNGs, with optional masks "
                       "<stem>_label/_seg/_labels7 and JSON sidecars <stem>.json giving \"patient\" and \"class\"; "
                       "a tumor-crop dataset folder (manifest.json) is accepted as the real set.")
    p.add_argument("--real", required=True, help="folder of real images (or a tumor-crop dataset)")
    p.add_argument("--synthetic", required=True, help="folder of synthetic images")
    p.add_argument("--out", required=True, help="empty output folder for the report")
    p.add_argument("--size", type=int, default=64, help="evaluation image size in pixels (default 64)")
    p.add_argument("--patch", type=int, default=None, help="Turing-test crop size (default: --size)")
    p.add_argument("--domain-steps", type=int, default=300, help="domain-classifier training steps (300)")
    p.add_argument("--c2st-steps", type=int, default=300, help="machine Turing test training steps (300)")
    p.add_argument("--holdout", type=float, default=0.3, help="held-out fraction for tests (0.3)")
    p.add_argument("--ssim-pairs", type=int, default=1000, help="random synthetic-real SSIM pairs (1000)")
    p.add_argument("--clusters", type=int, default=4, help="k-means++ clusters of synthetic images; 0: none (4)")
    p.add_argument("--max-images", type=int, default=2000, help="at most this many images per set (2000)")
    p.add_argument("--width", type=int, default=8, help="network width; 64 = ResNet-18 channel counts (8)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--include-phi", action="store_true",
                   help="crop datasets: add the tumor-free slices as class non-tumor")
    p.add_argument("--downstream", action="store_true",
                   help="also run the downstream experiment (patient-wise k-fold classifier and U-Net)")
    p.add_argument("--folds", type=int, default=3, help="downstream folds (3)")
    p.add_argument("--downstream-steps", type=int, default=200, help="downstream classifier steps per run (200)")
    p.add_argument("--unet-steps", type=int, default=200, help="downstream U-Net steps per run (200)")
    p.add_argument("--amounts", default="0.5,1", help="synthetic amounts added, as multiples of the real "
                   "training images, comma-separated (0.5,1)")
    p.add_argument("--seed", type=int, default=0)
    add_threads_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_evaluate)


def _check_inputs(args) -> None:
    """The folders and sizes, before torch is imported (messages as the evaluation's own)."""
    from pathlib import Path

    from .train import check_out_folder

    for name, folder in (("real", args.real), ("synthetic", args.synthetic)):
        root = Path(folder)
        if not root.exists():
            raise FileNotFoundError(f"{name} folder {root} does not exist")
        if not root.is_dir():
            raise ValueError(f"{name}: {root} is a file; choose the folder that holds the images")
    if args.size < 8:
        raise ValueError(f"the evaluation size must be at least 8 pixels; got {args.size}")
    if (args.patch or args.size) > args.size:
        raise ValueError(f"the Turing-test patch ({args.patch}) must not exceed the image size ({args.size})")
    out = Path(args.out)
    check_out_folder(out, "output folder")
    if (out / "work").is_dir() and any((out / "work").iterdir()):
        raise ValueError(f"{out} already holds an evaluation (work/); choose an empty output folder")


def _evaluate(args) -> int:
    try:
        amounts = tuple(float(a) for a in args.amounts.split(",") if a.strip())
    except ValueError:
        raise ValueError(f"--amounts must be comma-separated numbers, e.g. 0.5,1; got {args.amounts!r}") from None
    _check_inputs(args)

    from ..evaluate.report import EvaluationSettings, evaluate

    settings = EvaluationSettings(
        size=args.size, patch=args.patch or args.size, domain_steps=args.domain_steps, c2st_steps=args.c2st_steps,
        holdout=args.holdout, ssim_pairs=args.ssim_pairs, clusters=args.clusters, max_images=args.max_images,
        width=args.width, batch_size=args.batch_size, seed=args.seed, threads=args.threads,
        include_phi=args.include_phi, downstream=args.downstream, folds=args.folds,
        downstream_steps=args.downstream_steps, unet_steps=args.unet_steps, amounts=amounts)
    last = [""]

    def progress(done, total, message):
        stage = message.split(":")[0]
        if not args.quiet and stage != last[0]:  # one line per stage, not per training step
            print(message, file=sys.stderr, flush=True)
            last[0] = stage

    numbers = evaluate(args.real, args.synthetic, args.out, settings, progress)
    t = numbers["turing"]["statistics"]
    print(f"machine Turing test accuracy {t['accuracy']:.3f} (95% CI {t['ci_low']:.3f}-{t['ci_high']:.3f}); "
          f"report: {args.out}/report.md")
    return 0
