"""Subcommand ``spade``: render MR images from 7-class label maps with a trained SPADE generator.

    napari-medsynth spade render LABELS.nii.gz --out MR.nii.gz [--modality t1ce|t1|t2|flair|all]
                                 [--checkpoint PATH] [--style-seed S] [--threads T]

Every axial slice of the label volume is rendered on its own grid (slices without brain stay 0);
a single-slice NIfTI (a 2-D label map, as ``pggan sample`` writes) gives a single-slice MR. The
output keeps the input's affine and orientation and holds float32 intensities in [0, 1].
``--modality all`` writes one file per sequence, ``MR_t1.nii.gz`` ... ``MR_flair.nii.gz``, all
from one style (one patient).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .threads import add_threads_option
from .train import trust_changed_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("spade", help="SPADE label map -> MR rendering",
                       description="Render MR images from 7-class complete label maps (0 BG, 1 NCR/NET, 2 ED, "
                                   "3 ET, 4 WM, 5 GM, 6 CSF) with a trained SPADE generator.")
    actions = p.add_subparsers(dest="spade_command", metavar="ACTION", required=True)
    r = actions.add_parser("render", help="render every axial slice of a label volume",
                           description="Render every axial slice of a 7-class label volume (or a single-slice "
                                       "2-D label map) to an MR volume with the same affine.")
    r.add_argument("labels", help="7-class label map (.nii/.nii.gz), 3-D or a single slice")
    r.add_argument("--out", required=True, help="output MR file (.nii/.nii.gz), float32 in [0, 1]")
    r.add_argument("--checkpoint", default=None,
                   help="spade checkpoint (.pt) written by 'napari-medsynth train spade' (default: the shipped "
                        "models/spade.pt)")
    r.add_argument("--style-seed", type=int, default=None, metavar="S",
                   help="style seed (default: the mean style)")
    r.add_argument("--modality", default=None, type=str.lower, choices=("t1", "t1ce", "t2", "flair", "all"),
                   help="sequence to render (default t1ce, or the model's only one); 'all': one file per "
                        "sequence, named OUT_<sequence>")
    r.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_threads_option(r)
    r.add_argument("--quiet", action="store_true", help="no progress output")
    trust_changed_option(r, _render, check=_check_render)


def _check_render(args) -> None:
    """Names and headers, before anything is read or torch imported."""
    from ..io import is_nifti_path
    from ..io.nifti_checks import read_checked_header

    src, out = Path(args.labels), Path(args.out)
    if not src.is_file():
        raise FileNotFoundError(f"label map {src} not found" + (" (it is a folder)" if src.is_dir() else ""))
    if not is_nifti_path(out):
        raise ValueError(f"--out {out.name}: choose a .nii or .nii.gz file name")
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name such as {out / 'mr.nii.gz'}")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ValueError(f"--out {out}: {parent} is a file, not a folder")
    check_checkpoint_path(args.checkpoint)
    read_checked_header(src)


def check_checkpoint_path(checkpoint: str | None) -> None:
    """A --checkpoint that names a file must exist (a bare name may be a shipped checkpoint)."""
    if checkpoint is None:
        return
    path = Path(checkpoint)
    if path.exists() or ("/" not in checkpoint and os.sep not in checkpoint and not path.suffix):
        return
    raise FileNotFoundError(f"checkpoint {checkpoint} not found")


def _check_label_values(name: str, data) -> None:
    """The classes SPADE renders (0-6), checked before the model loads (the reader already refused
    fractional label values)."""
    from ..labels import N_CLASSES

    if data.size == 0:
        raise ValueError(f"{name}: the label map is empty")
    lo, hi = float(data.min()), float(data.max())
    if lo < 0 or hi >= N_CLASSES:
        raise ValueError(f"{name}: a 7-class label map holds classes 0-{N_CLASSES - 1} (0 BG, 1 NCR/NET, 2 ED, "
                         f"3 ET, 4 WM, 5 GM, 6 CSF); this one has values {lo:g}..{hi:g}. BraTS _seg maps (1, 2, 4) "
                         "must be converted first ('napari-medsynth labels7 CASE_DIR' makes one)")


def _render(args) -> int:
    import numpy as np

    from ..io import read_volume, write_volume

    src, out = Path(args.labels), Path(args.out)
    vol = read_volume(src, kind="labels")
    data = np.asarray(vol.data)
    if data.ndim != 3:
        raise ValueError(f"{src.name}: expected a 3-D label volume or a single 2-D slice, got shape {data.shape}")
    if 1 in data.shape[1:] and data.shape[0] != 1:
        raise ValueError(f"{src.name}: a single slice that is not axial (display shape {data.shape}); "
                         "give axial label maps")
    _check_label_values(src.name, data)

    from ..spade import SpadeRenderer, render_volume  # torch: only for an input that can be rendered

    renderer = SpadeRenderer.load(args.checkpoint, device=args.device)
    renderer.channel(args.modality)  # a sequence the model does not render: say so before rendering

    def progress(done: float, total: float, _message: str = "") -> None:
        if not args.quiet:
            print(f"\rrendered {int(done)}/{int(total)} slices", end="", file=sys.stderr, flush=True)

    mr = render_volume(data, renderer, args.style_seed, progress=progress, modality=args.modality)
    if not args.quiet:
        print(file=sys.stderr)
    if args.modality == "all":
        written = [(per_sequence_name(out, m), image) for m, image in zip(renderer.modalities, mr)]
    else:
        written = [(out, mr)]
    for path, image in written:
        write_volume(path, image.astype(np.float32), vol.metadata(), kind="image")
    names = ", ".join(str(p) for p, _ in written)
    print(f"wrote {names} ({data.shape[0]} slice(s) at the label map's own resolution, checkpoint sha256 "
          f"{renderer.sha256[:12]}, style {'mean' if args.style_seed is None else args.style_seed})")
    return 0


def per_sequence_name(out: Path, modality: str) -> Path:
    """``mr.nii.gz`` -> ``mr_t1ce.nii.gz``."""
    name = out.name
    suffix = ".nii.gz" if name.lower().endswith(".nii.gz") else ".nii"
    return out.with_name(f"{name[:-len(suffix)]}_{modality}{suffix}")
