"""Run something when a Qt object is destroyed or the application quits, safely.

A lambda or ``functools.partial`` connected to a dying object's ``destroyed`` signal can be called
after PyQt has freed it (when the object's Python wrapper was collected first), and crashes the
process. Here the callback is held by a small hook object that this module keeps alive until it
has run, and the signal is connected to the hook's bound method, which PyQt calls safely.
"""

from __future__ import annotations

from collections.abc import Callable

_KEPT: set[_Hook] = set()


class _Hook:
    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        _KEPT.add(self)

    def fire(self, *_args) -> None:
        if self in _KEPT:
            _KEPT.discard(self)
            self.fn()


def when_destroyed(obj, fn: Callable[[], None]) -> None:
    """Call ``fn()`` once, when ``obj`` (a QObject) is destroyed or the application quits."""
    from qtpy.QtWidgets import QApplication

    hook = _Hook(fn)
    obj.destroyed.connect(hook.fire)
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(hook.fire)
