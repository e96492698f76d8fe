"""Run :func:`~.report.evaluate` as a background :class:`~napari_medsynth.jobs.Job` (no Qt here)."""

from __future__ import annotations

from ..jobs import Job
from .report import EvaluationSettings, evaluate


def evaluation_job(real_dir, synthetic_dir, out_dir, settings: EvaluationSettings) -> Job:
    """A job (not started) whose result is the report's numbers; progress is the report's own."""
    return Job(lambda ctx: evaluate(real_dir, synthetic_dir, out_dir, settings, progress=ctx.progress),
               name="napari-medsynth-evaluate")
