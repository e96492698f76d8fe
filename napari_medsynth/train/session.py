"""Training in the background: a :class:`~napari_medsynth.jobs.Job` that runs a trainer.

The trainer's events (:mod:`.events`) arrive through the job's :meth:`~napari_medsynth.jobs.Job.drain`,
with each step also reported as the job's progress (``step`` of ``total_steps``). Stopping the job
stops the trainer after its current step (it then saves a checkpoint); jobs still running when
the interpreter exits are stopped the same way, so quitting napari mid-run loses at most the step
in progress.
"""

from __future__ import annotations

from ..jobs import Job, JobContext
from .events import StepEvent
from .trainer import Trainer


class BackgroundRun(Job):
    """A job that trains ``trainer``; ``pause``/``unpause`` hold it between steps."""

    def __init__(self, trainer: Trainer):
        self.trainer = trainer
        super().__init__(self._train, name="napari-medsynth-train", on_stop=trainer.stop)

    def _train(self, ctx: JobContext):
        def forward(event) -> None:
            ctx.emit(event)
            if isinstance(event, StepEvent):
                ctx.progress(event.step, event.total_steps, f"step {event.step}/{event.total_steps}")

        self.trainer.add_listener(forward)
        try:
            return self.trainer.run()
        except BaseException:  # already reported to listeners as DoneEvent(reason="error")
            return self.trainer.result

    def pause(self) -> None:
        self.trainer.pause()

    def unpause(self) -> None:
        self.trainer.unpause()


class LossHistory:
    """Loss curves accumulated from step events: ``steps`` and one list per loss name."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = {}

    def add(self, event: StepEvent) -> None:
        self.steps.append(event.step)
        for name, value in event.losses.items():
            series = self.values.setdefault(name, [float("nan")] * (len(self.steps) - 1))
            series.append(value)
        for series in self.values.values():  # a loss missing from this step
            if len(series) < len(self.steps):
                series.append(float("nan"))

    def clear(self) -> None:
        self.steps.clear()
        self.values.clear()
