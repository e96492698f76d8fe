"""One way to open a trained model, and the export that makes shipped checkpoints small.

:func:`open_trained` is what every inference API (SPADE renderer, PGGAN sampler, SAGE shape
model, whole-crop baselines, evaluation networks) uses to open a checkpoint:

1. a path, a shipped checkpoint's name (``"spade"``) or None for the caller's shipped default;
2. the file read once (its SHA-256 from the same bytes), tensors only (``weights_only``), its
   archive checksums, model-card SHA-256 (``trust_changed`` overrides) and finite weights checked
   (:mod:`.integrity`);
3. the recipe checked against the ones the caller accepts;
4. the configuration validated against its type, bounds and choices
   (:func:`~.recipe.config_from_dict`), before any network exists;
5. each network first built on PyTorch's ``meta`` device, which allocates nothing, and its
   parameter shapes compared with the stored weights. A configuration that asks for a huge
   network whose weights are not in the file is refused there, without allocating it.

:func:`export_checkpoint` writes the inference-only form of a training checkpoint: the networks a
recipe names in ``inference_networks`` (and ``inference_extra``), without optimizers,
discriminators, random states or sampler positions. Shipped checkpoints are exports.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._shipped import shipped_checkpoint
from .checkpoint import CheckpointError, check_format, model_card, read_model_card, read_state, save_checkpoint
from .recipe import Recipe, RecipeConfig, config_from_dict, get_recipe

#: Top-level checkpoint keys an export keeps (besides its model state and the export record).
_KEPT = ("recipe", "config", "step", "seed", "world_size", "metrics", "dataset")


@dataclass
class TrainedModel:
    """A checkpoint opened for inference: its recipe, validated config and network weights."""

    path: Path
    recipe: str
    config: RecipeConfig
    step: int
    sha256: str
    networks: dict[str, dict[str, torch.Tensor]]
    extra: dict[str, Any]
    #: What the model card says about the training (recipe, step, config, seed, dataset).
    card: dict[str, Any] = field(default_factory=dict)
    inference_only: bool = False

    @property
    def recipe_class(self) -> type[Recipe]:
        return get_recipe(self.recipe)

    def network(self, name: str, device: str | torch.device = "cpu",
                weights: dict[str, torch.Tensor] | None = None) -> nn.Module:
        """Network ``name`` with its stored weights (or ``weights``), in eval mode on ``device``."""
        if weights is None:
            if name not in self.networks:
                raise CheckpointError(f"{self.path.name}: holds no {name!r} network "
                                      f"(it has: {', '.join(self.networks) or 'none'})")
            weights = self.networks[name]
        self._check_shapes(name, weights)
        net = self.recipe_class.build_network(name, self.config)
        net.load_state_dict(weights)  # keys and shapes were checked above
        return net.to(device).eval()

    def _check_shapes(self, name: str, weights: dict[str, Any]) -> None:
        """Compare the stored weights with the network the config describes, built on ``meta``."""
        if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
            raise CheckpointError(f"{self.path.name}: the {name} weights are not a state dict of tensors")
        try:
            with torch.device("meta"):
                skeleton = self.recipe_class.build_network(name, self.config)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"{self.path.name}: its configuration does not describe a usable {name} "
                                  f"network ({str(exc).splitlines()[0]})") from exc
        wanted = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
        stored = {k: tuple(v.shape) for k, v in weights.items()}
        if wanted == stored:
            return
        missing = sorted(set(wanted) - set(stored))
        unexpected = sorted(set(stored) - set(wanted))
        differ = [k for k in wanted if k in stored and wanted[k] != stored[k]]
        if differ:
            why = f"{differ[0]} is {stored[differ[0]]} in the file, {wanted[differ[0]]} by the configuration"
        elif missing:
            why = f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}"
        else:
            why = f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}"
        raise CheckpointError(f"{self.path.name}: the {name} weights do not fit its configuration ({why}); "
                              "the file is damaged or was edited")


def resolve(path_or_name: str | os.PathLike | None, default: str | None) -> Path:
    """A checkpoint path from a path, a shipped checkpoint's name, or None (the shipped ``default``)."""
    if path_or_name is None:
        if default is None:
            raise CheckpointError("choose a checkpoint file (this model has no shipped default)")
        return shipped_checkpoint(default)
    text = str(path_or_name)
    path = Path(text)
    if not path.exists() and "/" not in text and os.sep not in text and not path.suffix:
        return shipped_checkpoint(text)
    return path


def open_trained(path_or_name: str | os.PathLike | None, recipes: str | Sequence[str], what: str = "",
                 default: str | None = None, map_location: str | torch.device = "cpu",
                 trust_changed: bool | None = None) -> TrainedModel:
    """Open a checkpoint of one of ``recipes`` for inference (see the module docstring).

    ``what`` names the kind of model in messages ("a shape model"); ``default`` is the shipped
    checkpoint used for None (the first recipe's name when not given). ``trust_changed`` loads a
    file whose model card records another SHA-256 (None: as :func:`~.integrity.trusting_changed` says).
    """
    accepted = (recipes,) if isinstance(recipes, str) else tuple(recipes)
    path = resolve(path_or_name, accepted[0] if default is None else default)
    state, digest = read_state(path, map_location, trust_changed=trust_changed)
    state = check_format(state, path.name)
    recipe = state.get("recipe")
    if recipe not in accepted:
        kind = what or f"a {' or '.join(accepted)} model"
        raise CheckpointError(f"{path.name} was trained with recipe {recipe!r}, not {kind} "
                              f"({', '.join(accepted)}); choose a checkpoint trained with the {accepted[0]} recipe")
    cls = get_recipe(recipe)
    raw_config = state.get("config") or {}
    if not isinstance(raw_config, dict):
        raise CheckpointError(f"{path.name}: refused: its configuration is a {type(raw_config).__name__}, not a "
                              "table of settings; the file is damaged or was edited")
    try:
        config = config_from_dict(cls.config_class, dict(raw_config))
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path.name}: refused: its configuration is not one this version builds "
                              f"({exc})") from exc
    model = state.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("networks"), dict):
        raise CheckpointError(f"{path.name}: holds no network weights")
    card = {k: state.get(k) for k in ("recipe", "step", "config", "seed", "dataset")}
    return TrainedModel(path, recipe, config, int(state.get("step", 0)), digest, model["networks"],
                        dict(model.get("extra") or {}), card, bool(state.get("inference_only", False)))


def export_checkpoint(source: str | os.PathLike, dest: str | os.PathLike,
                      card_extra: dict[str, Any] | None = None, trust_changed: bool | None = None) -> tuple[Path, Path]:
    """Write the inference-only form of training checkpoint ``source`` to ``dest`` (+ its card).

    The new model card keeps the source card's fields (training data, device, notes added by
    hand) and records which checkpoint it was exported from, with that file's SHA-256.
    ``source`` is checked as :func:`open_trained` checks it (``trust_changed`` likewise).
    """
    source = Path(source)
    state, digest = read_state(source, trust_changed=trust_changed)
    state = check_format(state, source.name)
    if state.get("inference_only"):
        raise CheckpointError(f"{source.name} is already an inference-only export")
    cls = get_recipe(state.get("recipe", ""))
    try:
        config_from_dict(cls.config_class, dict(state["config"]))
        exported = cls.export_state(state["model"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{source.name}: cannot be exported ({exc})") from exc
    try:
        old_card = read_model_card(source)
    except CheckpointError:
        old_card = {}
    # The name the training run gave it (a shipped file may have been renamed since).
    trained_as = old_card.get("checkpoint") if old_card.get("checkpoint_sha256") == digest else None
    payload = {k: state[k] for k in _KEPT if k in state}
    payload.update(model=exported, inference_only=True,
                   exported_from={"checkpoint": trained_as or source.name, "sha256": digest})
    # The training's own record (data, device, time, versions, notes added by hand) stays.
    card = {**model_card(payload), **old_card, "inference_only": True, "networks": sorted(exported["networks"]),
            "exported_from": payload["exported_from"],
            "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"), **(card_extra or {})}
    for key in ("checkpoint", "checkpoint_sha256"):
        card.pop(key, None)
    return save_checkpoint(dest, payload, card)
