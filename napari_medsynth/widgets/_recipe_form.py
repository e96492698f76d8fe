"""A form of every setting of a recipe's config, generated from its dataclass.

One magicgui widget per field (``create_widget`` with the field's type): whole numbers as spin
boxes bounded by the config's ranges, settings with choices as drop-downs, switches as check
boxes, text and real numbers as text fields (a learning rate such as 2e-4 stays exact). What the
form returns goes through the same :func:`~napari_medsynth.train.recipe.config_from_dict` as
``napari-medsynth train --set KEY=VALUE``, so the panel and the command line build the same config.
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import Container, create_widget

from ..train.recipe import RecipeConfig, config_fields, config_from_dict


def _widget_for(cls: type[RecipeConfig], name: str, kind: type, default: Any):
    label = name.replace("_", " ")
    if kind is bool:
        return create_widget(value=default, annotation=bool, label=label, name=name)
    choices = cls.choices_of(name)
    if choices:
        return create_widget(value=default, annotation=str, label=label, name=name,
                             widget_type="ComboBox", options={"choices": list(choices)})
    if kind is int:
        lo, hi = cls.range_of(name) or (-(2**31), 2**31 - 1)
        return create_widget(value=default, annotation=int, label=label, name=name,
                             options={"min": int(lo), "max": int(min(hi, 2**31 - 1))})
    # floats and free text: a text field, parsed like --set
    lo_hi = cls.range_of(name)
    tooltip = f"{lo_hi[0]:g} to {lo_hi[1]:g}" if lo_hi else ""
    return create_widget(value=repr(default) if kind is float else str(default), annotation=str, label=label,
                         name=name, widget_type="LineEdit", options={"tooltip": tooltip})


class RecipeForm:
    """The settings of one recipe config class as a magicgui Container."""

    def __init__(self, config_class: type[RecipeConfig]):
        self.config_class = config_class
        self.fields = config_fields(config_class)
        self.widgets = {name: _widget_for(config_class, name, kind, default) for name, kind, default in self.fields}
        self.container = Container(widgets=list(self.widgets.values()))

    def values(self) -> dict[str, Any]:
        """The form's values as ``--set`` would give them: text for every field."""
        out = {}
        for name, kind, _ in self.fields:
            value = self.widgets[name].value
            out[name] = ("true" if value else "false") if kind is bool else str(value).strip()
        return out

    def overrides(self) -> dict[str, str]:
        """Only the settings changed from the recipe's defaults (as if typed as ``--set``), so
        resuming a run trained with other values is not refused for settings left alone."""
        values = self.values()
        now, defaults = config_from_dict(self.config_class, values).to_dict(), self.config_class().to_dict()
        return {key: text for key, text in values.items() if now[key] != defaults[key]}

    def config(self) -> RecipeConfig:
        return config_from_dict(self.config_class, self.values())
