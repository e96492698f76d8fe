"""Recipes: what differs between models, so that one trainer can run them all.

A recipe owns its networks and optimizers, defines one training step and how to draw previews,
and names its dataset. Everything else (device, precision, seeding, schedule, checkpoints,
stop/pause, DDP) belongs to :class:`~napari_medsynth.train.trainer.Trainer`.

Built-in recipes are listed in :mod:`napari_medsynth.registry` (name -> module) and imported only
when used; recipes defined elsewhere register with :func:`register_recipe`. The GUI lists
:func:`list_recipes` and the CLI looks names up with :func:`get_recipe`.
"""

from __future__ import annotations

import abc
import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from .device import Precision

#: Sane bounds (inclusive) of settings many recipes share. A config class adds its own, or narrows
#: these, in its ``ranges``; every number a config holds must have bounds (a test checks), so a
#: crafted checkpoint or a typo cannot ask for networks of absurd size.
COMMON_RANGES: dict[str, tuple[float, float]] = {
    "batch_size": (1, 4096), "image_size": (4, 1024), "preview_count": (0, 64), "load_size": (4, 2048),
    "z_dim": (0, 4096), "width": (1, 1024), "max_width": (1, 2048), "hidden": (1, 16384),
    "n_classes": (2, 1000), "lr": (0.0, 1.0), "lr_g": (0.0, 1.0), "lr_d": (0.0, 1.0),
    "beta1": (0.0, 1.0), "beta2": (0.0, 1.0), "weight_decay": (0.0, 1.0), "real_label": (0.0, 1.0),
}


@dataclass
class RecipeConfig:
    """Settings every recipe has; recipes subclass this dataclass and add their own fields.

    ``ranges`` (merged along the class hierarchy, over :data:`COMMON_RANGES`) bound numeric
    settings and ``choices`` list the values of string settings that take one of a few; both are
    checked by :func:`config_from_dict` and shown by the Train panel. :meth:`check` may add rules
    that involve several fields.
    """

    ranges: ClassVar[dict[str, tuple[float, float]]] = {}
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}

    batch_size: int = 16
    image_size: int = 32
    #: Number of fixed-noise images drawn for each preview.
    preview_count: int = 16

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def check(self) -> None:
        """Refuse combinations of settings that cannot work (raise ValueError); none here."""

    @classmethod
    def range_of(cls, name: str) -> tuple[float, float] | None:
        for klass in cls.__mro__:
            found = vars(klass).get("ranges", {}).get(name)
            if found is not None:
                return found
        return COMMON_RANGES.get(name)

    @classmethod
    def choices_of(cls, name: str) -> tuple[str, ...] | None:
        for klass in cls.__mro__:
            found = vars(klass).get("choices", {}).get(name)
            if found is not None:
                return tuple(found)
        return None


def config_fields(cls: type[RecipeConfig]) -> list[tuple[str, type, Any]]:
    """(name, type, default) of every setting of a config class, in declaration order."""
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name], f.default) for f in dataclasses.fields(cls)]


def config_from_dict(cls: type[RecipeConfig], values: dict[str, Any]) -> RecipeConfig:
    """Build ``cls`` from plain values (a model card, a checkpoint or ``KEY=VALUE`` strings).

    Strings are converted to the field's type, so ``{"width": "8"}`` works; unknown keys are an
    error that lists the valid ones, because a misspelt setting silently ignored ruins a run.
    Every value is checked against its type, its bounds and its choices before anything is built.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)} for {cls.__name__}; "
                         f"valid: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    converted = {key: _convert(key, value, hints.get(key)) for key, value in values.items()}
    config = cls(**converted)
    for key, kind, _ in config_fields(cls):
        _check_value(cls, key, getattr(config, key), kind)
    config.check()
    return config


def _convert(key: str, value: Any, kind: Any) -> Any:
    if isinstance(value, str) and kind in (int, float, bool):
        try:
            return _parse_bool(value) if kind is bool else kind(value)
        except ValueError:
            raise ValueError(f"setting {key}={value!r} is not a valid {kind.__name__}") from None
    if kind is tuple or typing.get_origin(kind) is tuple:
        return tuple(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _check_value(cls: type[RecipeConfig], key: str, value: Any, kind: Any) -> None:
    expected = {int: (int,), float: (float,), bool: (bool,), str: (str,)}.get(kind)
    if expected is not None and (not isinstance(value, expected) or (kind is int and isinstance(value, bool))):
        raise ValueError(f"setting {key}={value!r} is not a valid {kind.__name__}")
    if kind in (int, float):
        if kind is float and not np.isfinite(value):
            raise ValueError(f"setting {key}={value!r} must be a finite number")
        bounds = cls.range_of(key)
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            raise ValueError(f"setting {key}={value!r} is outside the sane range {bounds[0]:g}..{bounds[1]:g}")
    options = cls.choices_of(key)
    if options is not None and value not in options:
        raise ValueError(f"setting {key}={value!r} must be one of {', '.join(options)}")


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


class Recipe(abc.ABC):
    """Base class. Subclasses set ``name``, ``config_class``, ``network_names`` and
    ``optimizer_names`` and implement :meth:`build`, :meth:`make_dataset`, :meth:`train_step`
    and :meth:`previews`.

    Networks and optimizers are stored as attributes named in ``network_names`` /
    ``optimizer_names``. Under DDP the trainer replaces each network attribute by its
    ``DistributedDataParallel`` wrapper (:meth:`wrap_networks`); :meth:`network` always returns the
    bare module, which is what checkpoints store and what previews use.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[RecipeConfig]] = RecipeConfig
    network_names: ClassVar[tuple[str, ...]] = ()
    optimizer_names: ClassVar[tuple[str, ...]] = ()
    #: The networks inference needs (a generator, an encoder): what an export keeps.
    inference_networks: ClassVar[tuple[str, ...]] = ()
    #: Keys of :meth:`extra_state` inference needs too (e.g. a PGGAN's growth level).
    inference_extra: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: RecipeConfig, device: torch.device, precision: Precision, seed: int = 0):
        self.config = config
        self.device = device
        self.precision = precision
        self.seed = seed
        self._bare: dict[str, nn.Module] = {}

    # --- to implement -------------------------------------------------------------------------
    @abc.abstractmethod
    def build(self) -> None:
        """Create the networks (on ``self.device``) and optimizers as named attributes."""

    @abc.abstractmethod
    def make_dataset(self, data_dir: str, pattern: str = "*"):
        """The dataset this recipe trains on: an object with ``__len__``, ``fingerprint``,
        ``describe()`` and ``batch(items) -> Tensor`` (see :class:`~.data.SliceDataset`)."""

    @abc.abstractmethod
    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        """One optimisation step of every network; returns its losses as Python floats."""

    @abc.abstractmethod
    def previews(self) -> np.ndarray:
        """Images from fixed inputs as ``(N, H, W)`` float32 in [-1, 1].

        Must not draw from the global random generators: previews are made at arbitrary times
        (GUI refresh) and must not change the training trajectory or break exact resume.
        """

    def extra_state(self) -> dict[str, Any]:
        """Recipe state beyond networks and optimizers (tensors, numbers, strings only)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:  # noqa: B027 (optional, like extra_state)
        """Restore what :meth:`extra_state` returned."""

    @classmethod
    def build_network(cls, name: str, config: RecipeConfig) -> nn.Module:
        """Network ``name`` as ``config`` describes it, untrained, on torch's current default
        device. :meth:`build` and :func:`~.trained.open_trained` both build through it, so a
        checkpoint is always rebuilt exactly as it was trained."""
        raise KeyError(f"recipe {cls.name!r} does not build a network named {name!r}")

    @classmethod
    def export_state(cls, model: dict[str, Any]) -> dict[str, Any]:
        """The inference-only part of a checkpoint's model state (see :func:`~.trained.export_checkpoint`)."""
        nets, extra = model.get("networks", {}), model.get("extra", {})
        missing = [n for n in cls.inference_networks if n not in nets]
        if missing or not cls.inference_networks:
            raise ValueError(f"recipe {cls.name!r} names no inference network to export" if not missing else
                             f"the checkpoint lacks the {', '.join(missing)} network(s)")
        return {"networks": {n: nets[n] for n in cls.inference_networks}, "optimizers": {},
                "extra": {k: extra[k] for k in cls.inference_extra if k in extra}}

    # --- provided -----------------------------------------------------------------------------
    def network(self, name: str) -> nn.Module:
        """The bare (unwrapped) network ``name``."""
        return self._bare[name] if name in self._bare else getattr(self, name)

    def wrap_networks(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        for name in self.network_names:
            module = getattr(self, name)
            self._bare[name] = module
            setattr(self, name, wrap(module))

    def state_dict(self) -> dict[str, Any]:
        return {
            "networks": {n: self.network(n).state_dict() for n in self.network_names},
            "optimizers": {n: getattr(self, n).state_dict() for n in self.optimizer_names},
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        nets, opts = state.get("networks", {}), state.get("optimizers", {})
        missing = [n for n in self.network_names if n not in nets] + \
                  [n for n in self.optimizer_names if n not in opts]
        if missing:
            raise ValueError(f"the checkpoint lacks {', '.join(missing)} needed by recipe {self.name!r}")
        for n in self.network_names:
            check_state_shapes(n, self.network(n).state_dict(), nets[n])
        for n in self.optimizer_names:
            check_optimizer_shapes(n, getattr(self, n), opts[n])
        for n in self.network_names:
            self.network(n).load_state_dict(nets[n])
        for n in self.optimizer_names:
            getattr(self, n).load_state_dict(opts[n])
        self.load_extra_state(state.get("extra", {}))

    def release(self) -> None:
        """Drop networks and optimizers so their (GPU) memory can be freed after a run."""
        for n in (*self.network_names, *self.optimizer_names):
            if hasattr(self, n):
                setattr(self, n, None)
        self._bare.clear()


def check_state_shapes(name: str, wanted: dict[str, Any], stored: Any) -> None:
    """ValueError naming the first tensor of network ``name`` whose stored shape differs (or that is
    missing or unexpected), instead of ``load_state_dict``'s RuntimeError listing them all."""
    if not isinstance(stored, dict) or not all(isinstance(v, torch.Tensor) for v in stored.values()):
        raise ValueError(f"the {name} weights are not a state dict of tensors")
    for key, tensor in wanted.items():
        if key not in stored:
            raise ValueError(f"the {name} weights lack tensor {key} (the network here has {len(wanted)} tensors, "
                             f"the checkpoint {len(stored)})")
        if tuple(stored[key].shape) != tuple(tensor.shape):
            raise ValueError(f"tensor {name}.{key} has shape {tuple(stored[key].shape)} in the checkpoint, but the "
                             f"network this configuration builds needs {tuple(tensor.shape)}")
    extra = sorted(set(stored) - set(wanted))
    if extra:
        raise ValueError(f"the {name} weights hold tensors this network does not have: {', '.join(extra[:3])}"
                         f"{' ...' if len(extra) > 3 else ''}")


def check_optimizer_shapes(name: str, optimizer: torch.optim.Optimizer, stored: Any) -> None:
    """ValueError naming the first per-parameter optimizer state (Adam's moments, momentum) whose
    shape differs from its parameter; torch would only fail at the next step."""
    try:
        saved_ids = [i for group in stored["param_groups"] for i in group["params"]]
        states = stored["state"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"the {name} optimizer state is malformed ({exc!r})") from None
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if len(saved_ids) != len(params):
        raise ValueError(f"the {name} optimizer state covers {len(saved_ids)} parameters, the optimizer here "
                         f"has {len(params)}")
    for index, param in zip(saved_ids, params):
        for key, value in (states.get(index) or {}).items() if isinstance(states, dict) else ():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and tuple(value.shape) != tuple(param.shape):
                raise ValueError(f"the {name} optimizer's {key} for parameter {index} has shape "
                                 f"{tuple(value.shape)} in the checkpoint, but the parameter is {tuple(param.shape)}")


_REGISTRY: dict[str, type[Recipe]] = {}


def register_recipe(name: str) -> Callable[[type[Recipe]], type[Recipe]]:
    """Class decorator: make a recipe available to the trainer, CLI and GUI under ``name``."""

    def deco(cls: type[Recipe]) -> type[Recipe]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"a recipe named {name!r} is already registered ({_REGISTRY[name].__qualname__})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _builtin(name: str) -> type[Recipe] | None:
    """The built-in recipe ``name`` from :mod:`napari_medsynth.registry`, imported on first use."""
    import importlib

    from ..registry import entry

    found = entry(name)
    if found is None:
        return None
    if name not in _REGISTRY:
        cls = getattr(importlib.import_module(found.module), found.class_name)
        _REGISTRY.setdefault(name, cls)
    return _REGISTRY[name]


def list_recipes() -> list[str]:
    """Built-in recipes (generators first, in :data:`~napari_medsynth.registry.RECIPES` order),
    then any registered elsewhere, alphabetically. Imports no model package."""
    from ..registry import KINDS, RECIPES

    builtin = [e.name for k in KINDS for e in RECIPES if e.kind == k]
    return builtin + sorted(set(_REGISTRY) - set(builtin))


def describe_recipe(name: str) -> str:
    """The one-line description of a recipe (its docstring's first line for others)."""
    from ..registry import entry

    found = entry(name)
    if found is not None:
        return found.description
    doc = (get_recipe(name).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def get_recipe(name: str) -> type[Recipe]:
    cls = _REGISTRY.get(name) or _builtin(name)
    if cls is None:
        raise ValueError(f"unknown recipe {name!r}; available: {', '.join(list_recipes()) or 'none'}")
    return cls
