"""Subcommand ``train``: run a recipe headless, on one process or under ``torchrun``.

    napari-medsynth train dcgan --data slices/ --out runs/dcgan --steps 2000
    torchrun --nproc_per_node 2 -m napari_medsynth.cli train dcgan --data slices/ --out runs/dcgan

SIGINT (Ctrl-C) or SIGTERM (a batch scheduler's timeout) stops after the current step and writes
a checkpoint; ``--resume`` continues from it. A second Ctrl-C aborts at once. ``OUT/train.lock``
keeps a second trainer off the same folder while this one runs.

:func:`trust_changed_option` gives every command that loads checkpoints its ``--trust-changed``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from pathlib import Path

from .threads import add_threads_option, default_threads

TRUST_CHANGED_HELP = ("load checkpoints even if they no longer have the SHA-256 their model card (NAME.json beside "
                      "NAME.pt) records, i.e. were changed after training; damaged files and NaN/Inf weights are "
                      "still refused")


def trust_changed_option(parser: argparse.ArgumentParser, func, check=None) -> None:
    """Add ``--trust-changed`` to ``parser`` and make it run ``func`` with that flag in effect for
    every checkpoint it loads, however deep (:func:`~napari_medsynth.train.integrity.trusting_changed`).

    ``check(args)``, if given, runs first: the checks of arguments and input files that need no
    torch, so a mistake is reported at once rather than after the model loaded.
    """
    parser.add_argument("--trust-changed", action="store_true", help=TRUST_CHANGED_HELP)

    def run(args) -> int:
        if check is not None:
            check(args)
        if not args.trust_changed and "napari_medsynth.train.integrity" not in sys.modules:
            return func(args)  # not trusting is the default: no torch import just to say so
        from ..train.integrity import trusting_changed

        with trusting_changed(args.trust_changed):
            return func(args)

    parser.set_defaults(func=run)


def register(sub: argparse._SubParsersAction) -> None:
    from ..registry import KINDS, RECIPES
    from ..train.settings import PRECISION_CHOICES, TrainSettings

    d = TrainSettings(data_dir="", out_dir="")  # the defaults the Train panel shows too
    listing = "\n".join(f"  {e.name:<13} {e.description}" for k in KINDS for e in RECIPES if e.kind == k)
    p = sub.add_parser(
        "train", help="train a model recipe on a folder of images",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a model recipe on a folder of 2-D images (.npy (H,W)/(N,H,W) arrays or NIfTI\n"
                    "volumes, sliced axially). Checkpoints and model cards go to OUT/checkpoints, preview\n"
                    "grids to OUT/previews. Under torchrun the processes train together (DDP).\n\n"
                    f"recipes:\n{listing}")
    p.add_argument("recipe", help="recipe name, e.g. sage-lmsgan (listed above)")
    p.add_argument("--data", required=True, metavar="DIR", help="dataset folder (searched recursively)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder for checkpoints and previews")
    p.add_argument("--steps", type=int, default=d.steps, metavar="N", help=f"train until this step (default {d.steps})")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in OUT")
    p.add_argument("--trust-changed", action="store_true", help="with --resume: " + TRUST_CHANGED_HELP)
    p.add_argument("--device", default=d.device, help="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", default=d.precision, choices=PRECISION_CHOICES,
                   help="auto: bf16 (or fp16) autocast on CUDA, fp32 elsewhere")
    p.add_argument("--seed", type=int, default=d.seed, metavar="S", help=f"random seed (default {d.seed})")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, metavar="N",
                   help=f"steps between checkpoints (default {d.checkpoint_every})")
    p.add_argument("--preview-every", type=int, default=d.preview_every, metavar="N",
                   help=f"steps between preview PNGs in OUT/previews (0: none; default {d.preview_every})")
    p.add_argument("--keep", type=int, default=d.keep_checkpoints, metavar="K",
                   help=f"checkpoints to keep (0: all; default {d.keep_checkpoints})")
    p.add_argument("--batch-size", type=int, metavar="B", help="images per step and process (recipe default)")
    add_threads_option(p)
    p.add_argument("--pattern", default=d.pattern, help="only dataset files matching this glob, e.g. '*_t1ce.nii.gz'")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change a recipe setting, e.g. --set width=64 (repeatable; the Train panel shows "
                        "every setting of the chosen recipe)")
    p.set_defaults(func=_train)


def parse_settings(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


class _Progress:
    """Rank 0's console output: a tqdm bar with the losses, checkpoint lines, preview PNGs."""

    def __init__(self, out_dir: str):
        self.out_dir = Path(out_dir)
        self.bar = None

    def __call__(self, event) -> None:
        from tqdm import tqdm

        from ..train import events as ev
        from ..train.previews import save_png

        if isinstance(event, ev.StartEvent):
            what = "resuming at" if event.resumed else "starting at"
            print(f"training on {event.device} ({event.precision}, {event.world_size} process(es)), "
                  f"{event.n_images} images; {what} step {event.step} of {event.total_steps}",
                  file=sys.stderr, flush=True)
            if event.data:
                print(f"data: {event.data}", file=sys.stderr, flush=True)
            self.bar = tqdm(total=event.total_steps, initial=event.step, unit="step", mininterval=0.5,
                            file=sys.stderr, dynamic_ncols=True)
        elif isinstance(event, ev.StepEvent) and self.bar is not None:
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in event.losses.items()}, refresh=False)
            self.bar.update(event.step - self.bar.n)
        elif isinstance(event, ev.PreviewEvent):
            save_png(self.out_dir / "previews" / f"step_{event.step:08d}.png", event.images)
        elif isinstance(event, ev.CheckpointEvent):
            self._write(f"step {event.step}: saved {event.path} ({event.seconds:.2f} s)")
        elif isinstance(event, ev.DoneEvent):
            if self.bar is not None:
                self.bar.close()
            if event.reason != "error":
                print(f"{event.reason} at step {event.step}; checkpoint: {event.checkpoint or 'none'}",
                      file=sys.stderr, flush=True)

    def _write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr) if self.bar is not None else print(text, file=sys.stderr)


def check_recipe(name: str) -> None:
    """Refuse a recipe name that is neither built in (:mod:`napari_medsynth.registry`) nor registered
    in this process, without importing torch or a model package."""
    from ..registry import KINDS, RECIPES, entry

    recipe_module = sys.modules.get("napari_medsynth.train.recipe")  # recipes registered elsewhere
    if entry(name) is not None or (recipe_module is not None and name in recipe_module._REGISTRY):
        return
    names = recipe_module.list_recipes() if recipe_module else [e.name for k in KINDS for e in RECIPES if e.kind == k]
    available = ", ".join(names)
    raise ValueError(f"unknown recipe {name!r}; available: {available} ('napari-medsynth train --help' "
                     "describes each)")


def check_data_and_out(data: str, out: str) -> None:
    """The dataset folder exists and the output folder can be one (messages as the trainer's)."""
    root = Path(data)
    if not root.exists():
        raise FileNotFoundError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise ValueError(f"{root} is a file; choose the folder that holds the training images")
    check_out_folder(Path(out), "output folder")


def check_out_folder(out: Path, what: str) -> None:
    """``out`` is a folder or can be made one: no file in the way, on it or on a parent."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{what} {out} is a file; choose a folder")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ValueError(f"cannot create the {what} {out}: {parent} is a file")


def _train(args) -> int:
    # Everything that can be checked without torch first: a typo or a wrong path fails at once.
    overrides = parse_settings(args.set)
    check_recipe(args.recipe)
    check_data_and_out(args.data, args.out)
    from ..train.settings import TrainSettings

    if args.batch_size is not None:
        overrides["batch_size"] = args.batch_size
    settings = TrainSettings(
        data_dir=args.data, out_dir=args.out, steps=args.steps, checkpoint_every=args.checkpoint_every,
        preview_every=args.preview_every, device=args.device, precision=args.precision, seed=args.seed,
        resume=args.resume, keep_checkpoints=args.keep, pattern=args.pattern, threads=args.threads or default_threads(),
        trust_changed=args.trust_changed)
    settings.validate()

    from ..train import Trainer
    from ..train.distributed import context_from_env

    trainer = Trainer(args.recipe, settings, overrides)
    if context_from_env().is_main:  # only rank 0 logs (and, inside the trainer, writes)
        trainer.add_listener(_Progress(args.out))

    received: list[int] = []

    def on_signal(signum, frame):
        if trainer.wait(0):  # already finished: nothing left to stop
            return
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: give up at once
        received.append(signum)
        print(f"\n{signal.Signals(signum).name}: stopping after the current step and saving a checkpoint "
              "(Ctrl-C again to abort)", file=sys.stderr, flush=True)
        trainer.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning  # a line the user reads, not file:line: UserWarning
            done = trainer.run()
    except MemoryError as exc:
        print(f"napari-medsynth train: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        from ..train import latest_checkpoint

        last = latest_checkpoint(args.out)
        print(f"\naborted at step {trainer.step}; last checkpoint: {last or 'none'}", file=sys.stderr)
        return 130
    except OSError as exc:  # a write outside the checkpoints (they explain themselves) failed
        from ..train import latest_checkpoint

        last = latest_checkpoint(args.out)
        print(f"napari-medsynth train: error: {exc.strerror or exc}{f' ({exc.filename})' if exc.filename else ''} "
              f"at step {trainer.step}; newest complete checkpoint, intact: {last or 'none'}", file=sys.stderr)
        return 1
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 + received[0] if received and done.reason == "stopped" else 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"napari-medsynth train: warning: {message}", file=sys.stderr, flush=True)
