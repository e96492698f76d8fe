"""``--threads``: how many CPU threads the networks of a command may use.

Two OpenMP thread pools on two cores slow each other 2-40x (their threads spin while they
wait), so the default leaves one core to everything else: one thread on a two-core machine,
all but one on a larger one. The setting goes to the environment before torch is imported
(``OMP_NUM_THREADS``, which torch reads when it starts) and to torch if it already runs.
"""

from __future__ import annotations

import argparse
import os
import sys


def default_threads() -> int:
    return max(1, (os.cpu_count() or 1) - 1)


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=None, metavar="T",
                        help=f"CPU threads for the network (default {default_threads()} here: all cores but one)")


def apply_threads(args) -> int | None:
    """Set the thread count a parsed ``--threads`` asks for (or the default); returns it, or None
    for commands without the option."""
    if not hasattr(args, "threads"):
        return None
    n = default_threads() if args.threads is None else int(args.threads)
    if n < 1:
        raise ValueError(f"--threads must be at least 1, not {n}")
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    return n
