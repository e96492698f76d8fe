"""Subcommand ``study``: blind reader studies (Visual Turing tests) from the command line.

    napari-medsynth study create --real DIR --synthetic DIR [--group NAME ...] --n N --out STUDY
    napari-medsynth study export STUDY --out DIR
    napari-medsynth study merge SESSION.jsonl ... --out answers.csv
    napari-medsynth study score --key KEY.csv --answers A.csv [B.csv ...] --out DIR   (metrics, MRMC, ROC, report.md)
"""

from __future__ import annotations

import argparse
import sys

_CREATE_EPILOG = """\
groups: with --group control --group mutated the images are read from REAL/control,
REAL/mutated, SYNTHETIC/control and SYNTHETIC/mutated; without --group, from REAL and
SYNTHETIC directly. Images: PNG/JPEG/TIFF, NPY (2-D, or an (N,H,W) stack = N images) and NIfTI
(middle axial slice, or every non-empty axial slice with --slices all).

The answer key is written next to the study folder (STUDY_key.csv) unless --key says otherwise,
with the study secret beside it (STUDY_key.secret); both are readable by you only (0600). The
stimulus names come from the secret, not from --seed. Hand readers the study folder only.

Label maps and masks (*_label.npy, *_seg.nii.gz, *_mask.png) are skipped, and an image saved in
several formats (sage generate: x.npy and x.png) counts once. After writing the stimuli, create
reports how well a histogram classifier tells real from synthetic stimuli apart (a warning above
70%: the readers could go by brightness or noise rather than anatomy).
"""

_SCORE_EPILOG = """\
writes into DIR:
  metrics.csv             per reader and group, and the readers' mean (MRMC intervals)
  mrmc.csv                random-reader random-case analysis per group and figure of merit
  images.csv              per image: readers who called it real (fooled rate), provenance sidecar
  roc_curves.png          ROC curves per group; confusion_matrices.png
  report.md               the summary for a paper, with the figures
"""


def register(sub: argparse._SubParsersAction) -> None:
    study = sub.add_parser("study", help="blind reader studies: create, export, merge, score",
                           description="Blind reader studies (Visual Turing tests) of real vs synthetic images.")
    steps = study.add_subparsers(dest="study_command", metavar="STEP")
    study.set_defaults(func=lambda args: _missing_step(study))

    p = steps.add_parser("create", help="make a study folder of anonymized stimuli and a separate answer key",
                         description="Make a study folder of anonymized, identically processed stimuli and "
                                     "write the answer key outside it.",
                         epilog=_CREATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", required=True, metavar="DIR", help="folder of real images")
    p.add_argument("--synthetic", required=True, metavar="DIR", help="folder of synthetic images")
    p.add_argument("--group", action="append", metavar="NAME", dest="groups",
                   help="a data class, e.g. control; repeat for several (subfolders of --real and --synthetic)")
    p.add_argument("--n", type=int, metavar="N", help="images per group and source (default: all)")
    p.add_argument("--n-real", type=int, metavar="N", help="real images per group (overrides --n)")
    p.add_argument("--n-synthetic", type=int, metavar="N", help="synthetic images per group (overrides --n)")
    p.add_argument("--size", type=int, default=100, help="display size in pixels, square (default: 100, as SAGE)")
    p.add_argument("--fit", choices=("pad", "crop", "stretch"), default="pad",
                   help="how non-square images become square (default: pad)")
    p.add_argument("--slices", choices=("middle", "all"), default="middle",
                   help="NIfTI volumes: middle axial slice or every non-empty one (default: middle)")
    p.add_argument("--tumor-group", action="append", metavar="NAME", dest="tumor_groups",
                   help="a group whose images show a tumor; asks readers tumor / non-tumor too")
    p.add_argument("--confidence", action="store_true", help="also ask a 1-5 confidence per image")
    p.add_argument("--allow-revise", action="store_true", help="let readers go back and change answers")
    p.add_argument("--seed", help="make the selection of images reproducible (the names come from the secret)")
    p.add_argument("--key", metavar="KEY.csv",
                   help="where to write the answer key (default: STUDY_key.csv beside STUDY)")
    p.add_argument("--title", help="study title shown to readers (default: the folder name)")
    p.add_argument("--out", required=True, metavar="STUDY", help="new study folder")
    p.set_defaults(func=_no_traceback(_create))

    p = steps.add_parser("export", help="offline mode: PNGs with random numeric names + a blank answer sheet",
                         description="Copy the stimuli to a folder with a blank answer sheet "
                                     "(stimulus_id,answer,tumor_answer,reader) and reader instructions.")
    p.add_argument("study", metavar="STUDY", help="study folder")
    p.add_argument("--out", required=True, metavar="DIR", help="new folder for the readers")
    p.set_defaults(func=_no_traceback(_export))

    p = steps.add_parser("merge", help="merge readers' session files into one answer CSV",
                         description="Merge readers' session files (sessions/*.jsonl) into one answer CSV "
                                     "(stimulus_id,answer,tumor_answer,reader,confidence).")
    p.add_argument("sessions", nargs="+", metavar="SESSION.jsonl", help="session files")
    p.add_argument("--key", metavar="KEY.csv", help="check stimulus ids against this key")
    p.add_argument("--out", required=True, metavar="answers.csv", help="merged answer CSV")
    p.set_defaults(func=_no_traceback(_merge))

    p = steps.add_parser("score", help="metrics, MRMC and ROC analysis, fooled rates and report.md from the key "
                                       "and answers",
                         description="Score answers against the key: per reader and group and the mean across "
                                     "readers: accuracy, FPR, FNR, precision, tumor accuracy with 95% CIs, "
                                     "tests against chance, Fleiss' kappa; ROC analysis of call x confidence "
                                     "(empirical and binormal AUC; AUC 0.5 = readers cannot tell real from "
                                     "synthetic); multi-reader multi-case (Obuchowski-Rockette, Hillis df) "
                                     "intervals and tests of the readers' mean; per-image fooled rates.",
                         epilog=_SCORE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--key", required=True, metavar="KEY.csv", help="answer key (stimulus_id,source,tumor,group)")
    p.add_argument("--answers", required=True, nargs="+", metavar="FILE",
                   help="filled answer sheets (.csv) and/or session files (.jsonl)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the results (see below)")
    p.set_defaults(func=_no_traceback(_score))


def _missing_step(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _no_traceback(step):
    """Disk full, no permission...: one line saying so and exit code 1, not a traceback."""
    def run(args) -> int:
        try:
            return step(args)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise  # bad input: reported by the main command
            where = f" ({exc.filename})" if exc.filename else ""
            print(f"napari-medsynth study: error: {exc.strerror or exc}{where}", file=sys.stderr)
            return 1

    return run


def _create(args) -> int:
    from ..reader_study.create import create_study

    made = create_study(args.out, args.real, args.synthetic, groups=args.groups, n=args.n, n_real=args.n_real,
                        n_synthetic=args.n_synthetic, size=args.size, fit=args.fit, slices=args.slices,
                        tumor_groups=args.tumor_groups, confidence=args.confidence,
                        allow_revise=args.allow_revise, seed=args.seed, key_path=args.key, title=args.title)
    for (group, source), count in sorted(made.counts.items()):
        print(f"  {group}: {count} {source}")
    print(f"study folder (give to readers): {made.folder}")
    print(f"answer key (keep private):      {made.key_path}")
    print(f"study secret (keep private):    {made.secret_path}")
    if made.leak is not None:
        print(f"leak check: {made.leak.summary()}")
    else:
        print("leak check: too few real or synthetic images to check (4 of each needed)")
    for text in made.notes:
        print(f"note: {text}", file=sys.stderr)
    for text in made.warnings:
        print(f"warning: {text}", file=sys.stderr)
    return 0


def _export(args) -> int:
    from ..reader_study.export import SHEET_NAME, export_offline

    out = export_offline(args.study, args.out)
    print(f"exported to {out}: images, {SHEET_NAME}, INSTRUCTIONS.txt")
    return 0


def _merge(args) -> int:
    from ..reader_study.export import merge_sessions

    found = merge_sessions(args.sessions, args.out, args.key)
    readers = sorted({a.reader for a in found.answers})
    print(f"{len(found.answers)} answers from {len(readers)} reader(s) ({', '.join(readers)}) -> {args.out}")
    for note in found.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def _score(args) -> int:
    from ..reader_study.export import format_table, score_files

    result = score_files(args.key, args.answers, args.out)
    print(format_table(result.rows))
    written = (result.metrics_path, result.mrmc_path, result.images_path, result.roc_path, result.figure_path)
    print(f"wrote {result.report_path} with {', '.join(p.name for p in written)}")
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
