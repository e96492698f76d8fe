"""SPADE label -> MR rendering: load a trained generator, render label maps and volumes."""

from .render import SpadeRenderer, render_volume

__all__ = ["SpadeRenderer", "render_volume"]
