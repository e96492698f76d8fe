"""Render label maps to MR in a background thread, newest request first.

Painting changes the label map many times a second while a render takes tens to hundreds of
milliseconds on a CPU. :class:`LiveRenderer` therefore keeps *one* pending request per kind
(a single live render, a set of styles): a new request replaces the pending one, so the worker
only ever renders the newest map, and a result whose request was superseded while it was being
rendered is dropped instead of delivered. The worker is a :class:`~napari_medsynth.jobs.Job`
whose emitted events are the results; the caller drains them (a GUI's job runner, a test). The
renderer object is only touched from the worker thread.

No Qt here: the same class serves the napari panel, scripts and tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..jobs import Job, JobContext

LIVE = "live"
STYLES = "styles"


class Renderer(Protocol):
    """What the worker needs from a label -> MR model (e.g. ``SpadeRenderer``)."""

    def render(self, labels: np.ndarray, style_seed: int | None = None) -> np.ndarray: ...

    def render_styles(self, labels: np.ndarray, seeds: Sequence[int]) -> np.ndarray: ...

    # Optional: ``render_all(labels, style_seed) -> (M, H, W)``, every sequence in one pass (a live
    # render then holds all of them, so switching the shown sequence needs no new render), and a
    # ``modality`` keyword on ``render_styles``.


@dataclass
class RenderResult:
    """One finished request: the label map it was rendered from, and the image(s) or an error."""

    kind: str  # LIVE or STYLES
    request_id: int
    labels: np.ndarray
    seeds: tuple  # (style_seed,) for LIVE (None = mean style), the K seeds for STYLES
    images: np.ndarray | None = None  # (H, W) or (M, H, W) (every sequence) for LIVE, (K, H, W) for STYLES
    render_ms: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Request:
    kind: str
    request_id: int
    labels: np.ndarray
    seeds: tuple
    modality: str | None = None
    submitted: float = field(default_factory=time.monotonic)


class LiveRenderer:
    """A worker thread that renders the newest label map; stale requests and results are dropped.

    ``request(labels, style_seed)`` copies the map, so the caller can keep painting into its
    array. ``drain()`` returns the finished results in order. ``close()`` ends the thread after
    the render in progress.
    """

    def __init__(self, renderer: Renderer, name: str = "label-to-mr render"):
        self.renderer = renderer
        self._cond = threading.Condition()
        self._pending: dict[str, _Request] = {}
        self._latest: dict[str, int] = {LIVE: 0, STYLES: 0}
        self._next_id = 0
        self._busy: str | None = None
        self._closed = False
        self.job = Job(self._loop, name=name, on_stop=self._close_now).start()

    # --- called from the GUI / caller thread ----------------------------------------------------
    def request(self, labels: np.ndarray, style_seed: int | None = None) -> int:
        """Ask for the MR of ``labels`` (replacing any live request not yet started); its id."""
        return self._submit(LIVE, labels, (style_seed,))

    def request_styles(self, labels: np.ndarray, seeds: Sequence[int], modality: str | None = None) -> int:
        """Ask for one MR per style seed of ``labels`` (replacing a styles request not yet started),
        of one sequence (None: the renderer's default)."""
        seeds = tuple(int(s) for s in seeds)
        if not seeds:
            raise ValueError("give at least one style seed")
        return self._submit(STYLES, labels, seeds, modality)

    def drain(self) -> list[RenderResult]:
        """The results finished since the last call (not superseded), oldest first; never blocks."""
        return [r for r in self.job.drain() if isinstance(r, RenderResult)]

    @property
    def busy(self) -> bool:
        """True while a request is pending or being rendered."""
        with self._cond:
            return bool(self._pending) or self._busy is not None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is pending or rendering (for scripts and tests); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, wait: float | None = 5.0) -> None:
        """End the worker after the render in progress (waiting up to ``wait`` seconds)."""
        self.job.stop(wait=wait or None)

    def _close_now(self) -> None:
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def _submit(self, kind: str, labels: np.ndarray, seeds: tuple, modality: str | None = None) -> int:
        labels = np.array(labels, copy=True)
        if labels.ndim != 2:
            raise ValueError(f"a label map to render must be 2-D, got shape {labels.shape}")
        with self._cond:
            if self._closed:
                raise RuntimeError("the renderer has been closed")
            self._next_id += 1
            rid = self._next_id
            self._pending[kind] = _Request(kind, rid, labels, seeds, modality)
            self._latest[kind] = rid
            self._cond.notify_all()
        return rid

    # --- worker thread --------------------------------------------------------------------------
    def _loop(self, ctx: JobContext) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                # the live view first: it is what the person painting is waiting for
                kind = LIVE if LIVE in self._pending else STYLES
                req = self._pending.pop(kind)
                self._busy = kind
            result = self._render(req)
            with self._cond:
                self._busy = None
                if not self._closed and result.request_id == self._latest[kind]:
                    ctx.emit(result)
                self._cond.notify_all()

    def _render(self, req: _Request) -> RenderResult:
        t0 = time.perf_counter()
        try:
            render_all = getattr(self.renderer, "render_all", None)
            if req.kind == LIVE and render_all is not None:
                images = render_all(req.labels, style_seed=req.seeds[0])
            elif req.kind == LIVE:
                images = self.renderer.render(req.labels, style_seed=req.seeds[0])
            elif req.modality is not None:
                images = self.renderer.render_styles(req.labels, list(req.seeds), modality=req.modality)
            else:
                images = self.renderer.render_styles(req.labels, list(req.seeds))
            images = np.asarray(images, dtype=np.float32)
            error = None
        except Exception as exc:  # the model failing must reach the panel as a message
            images, error = None, f"{type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - t0) * 1000.0
        return RenderResult(req.kind, req.request_id, req.labels, req.seeds, images, ms, error)
