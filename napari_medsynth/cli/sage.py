"""Subcommand ``sage``: generate synthetic tumors, merge them into any healthy volume, regenerate.

* ``sage generate``: N samples from a crop dataset (shape -> texture -> merge into its tumor-free
  slices), each with a provenance sidecar.
* ``sage merge``: N synthetic tumors in slices of a tumor-free NIfTI volume (brain mask found as
  its non-zero voxels, intensities scaled like the crop dataset).
* ``sage regenerate``: rebuild a sample from its sidecar and say whether it is identical.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .threads import add_threads_option
from .train import trust_changed_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sage", help="SAGE: generate, merge and regenerate synthetic tumors",
                       description="SAGE (Sequential Attribute Generator): LMS-GAN shapes, TAN textures and the "
                                   "merge block. Every written sample has a JSON sidecar from which "
                                   "'napari-medsynth sage regenerate' rebuilds it.")
    p.set_defaults(func=lambda args: _usage(p))
    cmds = p.add_subparsers(dest="sage_command", metavar="ACTION")

    g = cmds.add_parser("generate", help="write N synthetic images from a crop dataset",
                        description="Generate N images: a shape (LMS-GAN noise, a real shape or an interpolation), "
                                    "a texture from a random real tumor crop (TAN), merged into a random tumor-free "
                                    "slice of the dataset at a random location, size and orientation within the "
                                    "data's mean +- k std.")
    g.add_argument("--dataset", help="tumor-crop dataset folder (napari-medsynth crops); default: the sample "
                                      "cases, cropped once into the cache folder")
    _common(g)
    add_threads_option(g)
    trust_changed_option(g, _generate, check=_check_inputs)

    m = cmds.add_parser("merge", help="put N synthetic tumors into slices of a tumor-free volume",
                        description="Merge N synthetic tumors into axial slices of a skull-stripped, tumor-free "
                                    "NIfTI volume (any orientation the reader accepts). Textures and attribute "
                                    "ranges come from the crop dataset.")
    m.add_argument("--phi", required=True, help="tumor-free volume (.nii/.nii.gz)")
    m.add_argument("--slice", type=int, help="axial slice (0 = most inferior) for every tumor; default: random "
                                             "slices whose brain area is at least half the largest")
    m.add_argument("--dataset", help="tumor-crop dataset that lends textures and attribute ranges; default: the "
                                      "sample cases, cropped once into the cache folder")
    _common(m)
    add_threads_option(m)
    trust_changed_option(m, _merge, check=_check_inputs)

    r = cmds.add_parser("regenerate", help="rebuild a sample from its JSON sidecar",
                        description="Rebuild the image described by a sidecar, after checking that the checkpoints "
                                    "and the dataset items it used are unchanged (SHA-256). Exit status 0 when the "
                                    "result is identical bit for bit, 1 when it differs.")
    r.add_argument("sidecar", help="the sample's .json sidecar")
    r.add_argument("--dataset", help="crop dataset folder (default: the recorded one)")
    r.add_argument("--checkpoints", help="folder with sage-lmsgan.pt (default: the recorded checkpoints)")
    r.add_argument("--out", help="write the regenerated sample here (default: only compare)")
    add_threads_option(r)
    trust_changed_option(r, _regenerate, check=_check_regenerate)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoints", help="folder with sage-lmsgan.pt and optionally TAN features "
                                         "(default: the shipped models)")
    p.add_argument("--n", type=int, required=True, help="number of images")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    p.add_argument("--k", type=float, default=1.0, help="attributes within mean +- k std of the data (default 1)")
    p.add_argument("--shape", choices=("noise", "real", "interpolate"), default="noise",
                   help="shape source: LMS-GAN noise, real shapes, or interpolations between real ones")
    p.add_argument("--class", dest="klass", help="take shapes and textures from this class only")
    p.add_argument("--texture-steps", type=int, help="TAN optimisation steps (default: the model's)")
    p.add_argument("--format", action="append", choices=("png", "nifti"), default=[],
                   help="also write PNG and/or NIfTI (repeatable); .npy and .json are always written")
    p.add_argument("--prefix", default="sage", help="file name prefix (default sage)")


def _check_inputs(args) -> None:
    """Folders and files named on the command line, before anything loads."""
    from .train import check_out_folder

    check_out_folder(Path(args.out), "output folder")
    for flag, folder in (("--dataset", args.dataset), ("--checkpoints", args.checkpoints)):
        if folder is not None and not Path(folder).is_dir():
            raise FileNotFoundError(f"{flag} {folder}: folder not found")
    phi = getattr(args, "phi", None)
    if phi is not None and not Path(phi).is_file():
        raise FileNotFoundError(f"--phi {phi}: file not found")


def _check_regenerate(args) -> None:
    if not Path(args.sidecar).is_file():
        raise FileNotFoundError(f"sidecar {args.sidecar} not found")
    for flag, folder in (("--dataset", args.dataset), ("--checkpoints", args.checkpoints)):
        if folder is not None and not Path(folder).is_dir():
            raise FileNotFoundError(f"{flag} {folder}: folder not found")


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_usage(sys.stderr)
    print("napari-medsynth sage: error: choose generate, merge or regenerate", file=sys.stderr)
    return 2


def _run(args, phi_volume: str | None = None, phi_slices: tuple[int, ...] = ()) -> int:
    from ..sage.batches import BatchRequest, batch_specs
    from ..sage.pipeline import SageGenerator
    from ..sage.samples import generate_batch

    request = BatchRequest(n=args.n, seed=args.seed, k=args.k, shape_mode=args.shape, klass=args.klass,
                           texture_steps=args.texture_steps, phi_volume=phi_volume, phi_slices=phi_slices)
    request.check({"n": "--n", "k": "--k", "texture_steps": "--texture-steps"})  # before the slow parts
    if args.dataset is None:
        from ..sage.sample_crops import build_sample_crops

        args.dataset = str(build_sample_crops(progress=lambda d, n, text: print(text, file=sys.stderr, flush=True)))
    gen = SageGenerator.open(args.dataset, args.checkpoints)
    specs = batch_specs(gen.dataset, request)
    def progress(done, total, text):
        if text.startswith("wrote"):
            print(f"[{int(done)}/{args.n}] {text}", flush=True)

    written = generate_batch(gen, specs, args.out, prefix=args.prefix, formats=tuple(args.format), progress=progress)
    print(f"{len(written)} images with sidecars in {Path(args.out).resolve()}")
    return 0


def _generate(args) -> int:
    return _run(args)


def _merge(args) -> int:
    from ..sage.pipeline import VolumeSlices

    vol = VolumeSlices.read(args.phi)
    if args.slice is not None:
        if not 0 <= args.slice < vol.scaled.shape[0]:
            raise ValueError(f"--slice {args.slice} is outside the volume (0..{vol.scaled.shape[0] - 1})")
        if not vol.brain[args.slice].any():
            raise ValueError(f"slice {args.slice} shows no brain; choose one of {_ranges(vol.usable_slices())}")
        slices = [args.slice]
    else:
        slices = vol.usable_slices().tolist()
    return _run(args, vol.path, tuple(slices))


def _ranges(values) -> str:
    values = list(values)
    return f"{values[0]}..{values[-1]}" if values else "none"


def _regenerate(args) -> int:
    from ..sage.samples import regenerate, write_sample

    generated, identical = regenerate(args.sidecar, args.dataset, args.checkpoints)
    if args.out:
        path = write_sample(generated, args.out, Path(args.sidecar).stem)
        print(f"wrote {path}")
    if identical:
        print(f"{Path(args.sidecar).name}: regenerated image and label are identical bit for bit")
        return 0
    print(f"{Path(args.sidecar).name}: regenerated, but the result differs from the recorded one "
          "(another torch version or CPU may round differently)", file=sys.stderr)
    return 1
