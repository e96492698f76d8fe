"""SPADE label -> MR rendering: load a trained generator, render label maps and volumes."""

from .render import SpadeRenderer, padded_side, render_volume

__all__ = ["SpadeRenderer", "padded_side", "render_volume"]
