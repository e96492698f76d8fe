"""``napari-medsynth`` command line.

With no arguments it opens napari with the plugin's dock widgets and the sample glioma case.
Subcommands are registered by the modules of this package listed in :data:`COMMAND_MODULES` (one
per command group); each such module has a
``register(subparsers)`` function that adds its parser and sets ``func`` to a callable taking the
parsed arguments and returning an exit code. Heavy imports (torch, napari) happen inside those
callables, after the arguments and input files are checked, so ``--help`` and a mistyped
argument answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

#: Modules that contribute subcommands (``module.register(subparsers)``).
COMMAND_MODULES = (
    "napari_medsynth.cli.volumes",
    "napari_medsynth.cli.train",
    "napari_medsynth.cli.dataset",
    "napari_medsynth.cli.export",
    "napari_medsynth.cli.study",
    "napari_medsynth.cli.crops",
    "napari_medsynth.cli.sage",
    "napari_medsynth.cli.evaluate",
    "napari_medsynth.cli.pggan",
    "napari_medsynth.cli.stylegan2",
    "napari_medsynth.cli.spade",
    "napari_medsynth.cli.labels7",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-medsynth",
        description="Synthetic brain-tumor MR: run with no command to open napari on the sample case.",
    )
    parser.add_argument("--version", action="version", version=f"napari-medsynth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from .._reader import session_reader_env
        from ..widgets.launch import launch

        session_reader_env()  # File > Open uses this plugin for NIfTI files and folders
        launch()
        return 0
    try:
        from .threads import apply_threads

        apply_threads(args)  # before a command imports torch
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:  # bad input: a message, not a traceback
        print(f"napari-medsynth {args.command}: error: {exc}", file=sys.stderr)
        return 2
