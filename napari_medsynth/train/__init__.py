"""Training engine: one loop (:class:`Trainer`) for every model, each model a :class:`Recipe`.

Qt-free and napari-free, so the CLI, notebooks and the napari widget drive the same code.
"""

from .checkpoint import CheckpointError, latest_checkpoint, list_checkpoints, load_checkpoint, read_model_card
from .data import DatasetError, SliceDataset
from .events import (
    CheckpointEvent,
    DoneEvent,
    EventQueue,
    PauseEvent,
    PreviewEvent,
    StartEvent,
    StepEvent,
)
from .recipe import Recipe, RecipeConfig, describe_recipe, get_recipe, list_recipes, register_recipe
from .trained import TrainedModel, export_checkpoint, open_trained
from .trainer import Trainer, TrainSettings

__all__ = [
    "CheckpointError",
    "CheckpointEvent",
    "DatasetError",
    "DoneEvent",
    "EventQueue",
    "PauseEvent",
    "PreviewEvent",
    "Recipe",
    "RecipeConfig",
    "SliceDataset",
    "StartEvent",
    "StepEvent",
    "TrainSettings",
    "TrainedModel",
    "Trainer",
    "describe_recipe",
    "export_checkpoint",
    "get_recipe",
    "latest_checkpoint",
    "list_checkpoints",
    "list_recipes",
    "load_checkpoint",
    "open_trained",
    "read_model_card",
    "register_recipe",
]
