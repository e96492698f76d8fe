"""What a training run reports, as small immutable records.

The trainer calls every listener with these events from the thread it runs in. Listeners must be
quick and must not touch a GUI: a GUI runs the trainer in a :class:`~napari_medsynth.jobs.Job`
(:class:`~.session.BackgroundRun`) and drains the events from its own thread, which keeps Qt
out of the engine and lets the GUI coalesce bursts of events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Union

import numpy as np


@dataclass(frozen=True)
class StartEvent:
    """Training is about to run ``step + 1 .. total_steps`` (``resumed``: from a checkpoint)."""

    step: int
    total_steps: int
    device: str
    precision: str
    world_size: int
    n_images: int
    resumed: bool
    #: The dataset's own description (e.g. where tissue classes came from), shown to the user.
    data: str = ""


@dataclass(frozen=True)
class StepEvent:
    """One optimisation step finished; ``losses`` are the recipe's scalars for that step."""

    step: int
    total_steps: int
    losses: dict[str, float]
    steps_per_s: float


@dataclass(frozen=True)
class PreviewEvent:
    """Fixed-noise samples from the generator: ``images`` is ``(N, H, W)`` float32 in [-1, 1]."""

    step: int
    images: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class CheckpointEvent:
    """A checkpoint and its model card were written (atomically) in ``seconds``."""

    step: int
    path: str
    card_path: str
    seconds: float


@dataclass(frozen=True)
class PauseEvent:
    """The run was paused (``paused=True``) or continues (``paused=False``) before ``step + 1``."""

    step: int
    paused: bool


@dataclass(frozen=True)
class DoneEvent:
    """The run ended. ``reason`` is "finished", "stopped" or "error" (then ``error`` says why)."""

    step: int
    reason: str
    checkpoint: str | None = None
    error: str | None = None


Event = Union[StartEvent, StepEvent, PreviewEvent, CheckpointEvent, PauseEvent, DoneEvent]  # noqa: UP007 (a runtime alias on 3.10)
Listener = Callable[[Event], None]
