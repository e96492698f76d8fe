"""Training engine: one loop (:class:`Trainer`) for every model, each model a :class:`Recipe`.

Qt-free and napari-free, so the CLI, notebooks and the napari widget drive the same code. Names
are imported from their modules on first use: ``import napari_medsynth.train.settings`` (the run
settings the CLI's parser and the Train panel show) costs no torch import.
"""

from __future__ import annotations

from .._lazy import lazy_getattr

_EXPORTS = {
    "CheckpointError": "checkpoint", "latest_checkpoint": "checkpoint", "list_checkpoints": "checkpoint",
    "load_checkpoint": "checkpoint", "read_model_card": "checkpoint",
    "CheckpointChangedError": "integrity", "CheckpointDamagedError": "integrity", "trusting_changed": "integrity",
    "RunLockError": "runlock",
    "DatasetError": "data", "SliceDataset": "data",
    "CheckpointEvent": "events", "DoneEvent": "events", "PauseEvent": "events", "PreviewEvent": "events",
    "StartEvent": "events", "StepEvent": "events",
    "Recipe": "recipe", "RecipeConfig": "recipe", "describe_recipe": "recipe", "get_recipe": "recipe",
    "list_recipes": "recipe", "register_recipe": "recipe",
    "TrainSettings": "settings",
    "TrainedModel": "trained", "export_checkpoint": "trained", "open_trained": "trained",
    "Trainer": "trainer",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
