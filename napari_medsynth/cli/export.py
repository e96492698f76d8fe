"""Subcommand ``export``: the inference-only form of a training checkpoint (what ships).

    napari-medsynth export runs/spade/checkpoints/step_00002000.pt --out models/spade.pt

Keeps the networks inference needs (generator, encoder) and the model card's training record;
drops optimizer and discriminator states, random states and sampler positions, which only
resuming a run needs. The exported file cannot be resumed from.
"""

from __future__ import annotations

import argparse
import errno
import json
from pathlib import Path

from .train import trust_changed_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write the inference-only form of a training checkpoint",
                       description="Write the inference-only form of a training checkpoint (generator and "
                                   "encoder weights, config, model card) for sharing or shipping. Training "
                                   "state (optimizers, discriminators, random states) is left out.")
    p.add_argument("checkpoint", help="a training checkpoint (OUT/checkpoints/step_*.pt)")
    p.add_argument("--out", required=True, metavar="FILE", help="the exported checkpoint (.pt); its card beside it")
    p.add_argument("--card", metavar="JSON", help="a JSON file of fields to add to the model card "
                                                   "(training cases, citations, machine, wall time)")
    trust_changed_option(p, _export)


def _export(args) -> int:
    if not Path(args.checkpoint).is_file():  # the checks that need no torch first
        raise FileNotFoundError(f"checkpoint {args.checkpoint} not found"
                                + (" (it is a folder)" if Path(args.checkpoint).is_dir() else ""))
    extra = {}
    if args.card:
        try:
            extra = json.loads(Path(args.card).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"--card {args.card}: not a readable JSON file ({exc})") from None
        if not isinstance(extra, dict):
            raise ValueError(f"--card {args.card}: expected a JSON object of card fields")
    out = Path(args.out)
    if out.suffix != ".pt":
        raise ValueError(f"--out {out}: name the exported checkpoint *.pt (its model card is written beside it)")

    from ..train.trained import export_checkpoint

    try:
        path, card = export_checkpoint(args.checkpoint, out, extra)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and exc.filename is None:
            raise  # a missing checkpoint: main() prints it
        raise ValueError(f"could not write {out}: {exc.strerror or exc}; {args.checkpoint} is unchanged"
                         f"{' (the disk is full: free some space)' if exc.errno == errno.ENOSPC else ''}") from None
    size = path.stat().st_size / 2**20
    print(f"wrote {path} ({size:.1f} MiB) and {card}")
    return 0
