"""Subcommand ``stylegan2``: draw MR slices from a trained StyleGAN2.

    napari-medsynth stylegan2 sample --n 32 --out synth/ --class tumor --truncation 0.7 \\
        --checkpoint runs/sg2/checkpoints/step_N.pt

Writes ``OUT/<prefix>_<index>.npy`` (float32 in [0, 1], the generator's native size) with a JSON
sidecar each (class, truncation, seed, index, checkpoint and its SHA-256: enough to draw the same
image again), ``OUT/summary.json`` and ``OUT/overview.png`` (the first 64).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .threads import add_threads_option
from .train import trust_changed_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stylegan2", help="sample tumor / non-tumor MR slices from a trained StyleGAN2",
                       description="StyleGAN2 MR slices (train one with 'napari-medsynth train stylegan2').")
    actions = p.add_subparsers(dest="stylegan2_command", metavar="ACTION", required=True)
    s = actions.add_parser("sample", help="draw N slices, write .npy images with provenance sidecars",
                           description="Draw N MR slices of one class and write them as .npy images in [0, 1] "
                                       "with a JSON sidecar each.")
    s.add_argument("--n", type=int, required=True, metavar="N", help="number of slices to draw")
    s.add_argument("--out", required=True, metavar="DIR", help="output folder")
    s.add_argument("--class", dest="slice_class", choices=("tumor", "non-tumor"), default="tumor",
                   help="slices showing tumor (default) or without")
    s.add_argument("--truncation", type=float, default=1.0, metavar="PSI",
                   help="pull the latent codes towards the class mean: 1 (default) none, 0.7 typical, 0 the mean")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="noise seed (default 0)")
    s.add_argument("--checkpoint", metavar="PT", help="stylegan2 checkpoint (default: the shipped models/stylegan2.pt)")
    s.add_argument("--prefix", default="stylegan2", help="file name prefix (default 'stylegan2')")
    s.add_argument("--overwrite", action="store_true", help="replace the results of an earlier run in OUT")
    add_threads_option(s)
    trust_changed_option(s, _sample, check=_check)


def _check(args) -> None:
    """Arguments and paths, before torch is imported or the model loaded."""
    from .spade import check_checkpoint_path
    from .train import check_out_folder

    if args.n < 1:
        raise ValueError(f"--n must be at least 1, not {args.n}")
    if not 0.0 <= args.truncation <= 2.0:
        raise ValueError(f"--truncation must lie between 0 and 2 (1: none), not {args.truncation}")
    if not args.prefix or any(c in args.prefix for c in "/\\"):
        raise ValueError(f"--prefix must be a plain file name part, not {args.prefix!r}")
    out = Path(args.out)
    check_out_folder(out, "output folder")
    if (out / "summary.json").exists() and not args.overwrite:
        raise ValueError(f"{out} already holds sampled slices (summary.json); choose another folder or pass "
                         "--overwrite")
    check_checkpoint_path(args.checkpoint)


def _sample(args) -> int:
    from ..io.atomic import atomic_write_text, write_npy_with_sidecar
    from ..stylegan2.sample import StyleGAN2Sampler
    from ..train.previews import save_png

    sampler = StyleGAN2Sampler.load(args.checkpoint)
    images = sampler.sample(args.n, args.seed, cls=args.slice_class, truncation=args.truncation)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.overwrite:
        for old in [*out.glob(f"{args.prefix}_*.npy"), *out.glob(f"{args.prefix}_*.json")]:
            old.unlink()
    digits = max(5, len(str(args.n - 1)))
    written = []
    for i, image in enumerate(images):
        stem = f"{args.prefix}_{i:0{digits}d}"
        sidecar = {"source": "stylegan2", "class": args.slice_class, "truncation": args.truncation,
                   "seed": args.seed, "index": i, "n": args.n, "checkpoint": sampler.path,
                   "checkpoint_sha256": sampler.sha256, "size": int(image.shape[-1]),
                   "regenerate": "StyleGAN2Sampler.load(checkpoint).sample(n, seed, cls, truncation)[index]",
                   "intensity": "[0, 1]: the training scaling [-1, 1] mapped linearly"}
        write_npy_with_sidecar(out, stem, image, sidecar)
        written.append(f"{stem}.npy")
    save_png(out / "overview.png", images[:64] * 2 - 1)
    summary = {"kind": "stylegan2", "class": args.slice_class, "truncation": args.truncation, "seed": args.seed,
               "checkpoint": sampler.path, "checkpoint_sha256": sampler.sha256, "size": sampler.size,
               "n_written": len(written), "files": written, "overview": "overview.png"}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(f"wrote {len(written)} {args.slice_class} slices to {out} (summary.json, overview.png)", file=sys.stderr)
    return 0
