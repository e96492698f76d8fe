"""Lazy package exports: a name is imported from its submodule on first use.

Packages such as ``reader_study`` and ``metrics`` export many names whose modules pull in heavy
or unrelated dependencies (torch, scikit-learn, answer-key parsing); importing the package
itself should cost nothing.
"""

from __future__ import annotations

import importlib


def lazy_getattr(package: str, exports: dict[str, str]):
    """A module-level ``__getattr__`` that imports ``exports[name]`` (a submodule) of ``package``."""

    def __getattr__(name: str):
        if name in exports:
            return getattr(importlib.import_module(f".{exports[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
