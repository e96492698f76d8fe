"""The one training loop every model goes through.

A :class:`Trainer` runs a recipe for a number of steps and reports what happens as events
(:mod:`.events`) to listeners: the CLI's progress bar, the napari widget's queue, a test. It owns
everything that is the same for all models: device and precision, seeding, the step schedule,
previews, checkpoints and exact resume, stop/pause, DDP, and freeing memory afterwards.

The main process holds the output folder's lock (:mod:`.runlock`) from before it reads the
newest checkpoint until the run ends, so a second trainer on the same folder is refused instead
of interleaving and pruning checkpoints. A checkpoint that cannot be written (disk full) ends the
run with a :class:`CheckpointError` naming the newest complete checkpoint, which is intact.

``stop()``, ``pause()`` and ``unpause()`` may be called from any thread (a GUI button, a signal
handler, a listener); the loop checks them before every step, so a stop takes effect after the
step in progress and is followed by a checkpoint.
"""

from __future__ import annotations

import errno
import gc
import threading
import time
import traceback
import warnings
from collections import deque
from pathlib import Path
from typing import Any

import torch

from . import distributed as ddp
from .checkpoint import (
    CheckpointError,
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    model_card,
    prune_checkpoints,
    remove_stale_temp_files,
    save_checkpoint,
)
from .data import StepSampler
from .device import Precision, select_device
from .events import CheckpointEvent, DoneEvent, Event, Listener, PauseEvent, PreviewEvent, StartEvent, StepEvent
from .recipe import Recipe, RecipeConfig, config_from_dict, get_recipe
from .rng import capture_rng_state, derive_seed, restore_rng_state, seed_everything
from .runlock import RunLock, acquire_run_lock
from .settings import TrainSettings


class Trainer:
    """Runs ``recipe`` (a registered name or a :class:`Recipe` subclass) under ``settings``.

    ``overrides`` change fields of the recipe's config (e.g. ``{"batch_size": 8}``). A trainer
    runs once; :meth:`run` blocks and returns the final :class:`DoneEvent`.
    """

    def __init__(self, recipe: str | type[Recipe], settings: TrainSettings,
                 overrides: dict[str, Any] | None = None, listeners: tuple[Listener, ...] = ()):
        self.recipe_class = get_recipe(recipe) if isinstance(recipe, str) else recipe
        settings.validate()
        self.settings = settings
        self.overrides = dict(overrides or {})
        config_from_dict(self.recipe_class.config_class, self.overrides)  # fail now on a bad setting
        self._listeners: list[Listener] = list(listeners)
        self._stop = threading.Event()
        self._unpaused = threading.Event()
        self._unpaused.set()
        self._done = threading.Event()
        self._started = False
        self.step = 0
        self.recipe: Recipe | None = None
        self.result: DoneEvent | None = None
        self._lock: RunLock | None = None

    # --- control, callable from any thread ---------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def stop(self) -> None:
        """Finish the current step, save a checkpoint and return from :meth:`run`."""
        self._stop.set()
        self._unpaused.set()

    def pause(self) -> None:
        self._unpaused.clear()

    def unpause(self) -> None:
        self._unpaused.set()

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`run` has returned (True) or ``timeout`` seconds passed (False)."""
        return self._done.wait(timeout)

    # --- the run ------------------------------------------------------------------------------
    def run(self) -> DoneEvent:
        if self._started:
            raise RuntimeError("a Trainer runs once; create a new one to train again")
        self._started = True
        ctx, device = ddp.DistContext(), None
        try:
            ctx = ddp.context_from_env()
            if self.settings.threads is not None:
                torch.set_num_threads(self.settings.threads)
            device = select_device(self.settings.device, ctx.local_rank)
            precision = Precision(self.settings.precision, device)
            if self.settings.deterministic and device.type == "cuda":
                torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
            ctx = ddp.init_process_group(ctx, device)
            self.result = self._train(ctx, device, precision)
        except BaseException as exc:
            message = _describe_error(exc, self)
            self.result = DoneEvent(self.step, "error", error=message)
            if ctx.is_main:
                self._emit(self.result)
            # The traceback pins every frame's locals (networks, batches): clear them so the
            # memory below is really freed, keeping file/line information for the report.
            traceback.clear_frames(exc.__traceback__)
            if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
                raise MemoryError(message) from exc
            raise
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None
            if self.recipe is not None:
                self.recipe.release()
            self.recipe = None
            gc.collect()
            if device is not None and device.type == "cuda":
                torch.cuda.empty_cache()
            ddp.shutdown(ctx)
            self._done.set()
        return self.result

    def _train(self, ctx: ddp.DistContext, device: torch.device, precision: Precision) -> DoneEvent:
        s = self.settings
        resume_state = self._resume_state(ctx)
        config = self._config(resume_state)
        seed = int(resume_state["seed"]) if resume_state else s.seed
        seed_everything(seed)  # identical initial weights on every rank
        self.recipe = recipe = self.recipe_class(config, device, precision, seed)
        recipe.build()
        dataset = recipe.make_dataset(s.data_dir, s.pattern)
        sampler = StepSampler(len(dataset), config.batch_size, seed, ctx.rank, ctx.world_size)
        start = 0
        if resume_state:
            start = self._restore(resume_state, recipe, precision, sampler, ctx, dataset)
        else:
            seed_everything(derive_seed(seed, ctx.rank))  # but different noise on every rank
        self.step = step = start
        if ctx.enabled:
            recipe.wrap_networks(lambda m: ddp.wrap_ddp(m, device))
        info = dict(seed=seed, config=config, dataset=dataset, device=device, precision=precision, ctx=ctx)
        if ctx.is_main:
            describe = getattr(dataset, "describe", None)
            self._emit(StartEvent(start, s.steps, str(device), precision.mode, ctx.world_size, len(dataset),
                                  resume_state is not None, describe() if callable(describe) else ""))
        losses: dict[str, float] = resume_state.get("metrics", {}) if resume_state else {}
        saved = latest_checkpoint(s.out_dir) if resume_state else None
        saved_step, reason = start, "finished"
        times: deque[float] = deque(maxlen=20)
        while step < s.steps:
            if self._wait_if_paused(step, ctx) or ddp.any_rank(ctx, self._stop.is_set()):
                reason = "stopped"
                break
            times.append(time.perf_counter())
            batch = dataset.batch(sampler.next_batch()).to(device, non_blocking=True)
            losses = ddp.mean_over_ranks(ctx, recipe.train_step(batch))
            precision.update()
            self.step = step = step + 1
            if ctx.is_main:
                rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
                self._emit(StepEvent(step, s.steps, dict(losses), rate))
                if s.preview_every and (step % s.preview_every == 0 or step in (start + 1, s.steps)):
                    self._emit(PreviewEvent(step, recipe.previews()))
            if step % s.checkpoint_every == 0 or step == s.steps:
                saved, saved_step = self._save(step, recipe, precision, sampler, losses, info), step
        if saved_step != step:  # stopped between scheduled checkpoints
            saved = self._save(step, recipe, precision, sampler, losses, info)
        done = DoneEvent(step, reason, checkpoint=str(saved) if saved and ctx.is_main else None)
        if ctx.is_main:
            self._emit(done)
        return done

    def _wait_if_paused(self, step: int, ctx: ddp.DistContext) -> bool:
        """Block while paused; True if a stop was requested meanwhile."""
        if self._unpaused.is_set():
            return False
        if ctx.is_main:
            self._emit(PauseEvent(step, True))
        while not self._unpaused.wait(0.1):
            pass
        if ctx.is_main:
            self._emit(PauseEvent(step, False))
        return self._stop.is_set()

    # --- checkpoints --------------------------------------------------------------------------
    def _resume_state(self, ctx: ddp.DistContext) -> dict[str, Any] | None:
        """Rank 0 reads the newest checkpoint (or refuses to overwrite a run) and shares it."""
        state, error = None, None
        if ctx.is_main:
            try:
                self._lock = acquire_run_lock(self.settings.out_dir)  # before touching any file in OUT
                if self._lock.took_over:
                    warnings.warn(self._lock.took_over, stacklevel=2)
                remove_stale_temp_files(self.settings.out_dir)
                latest = latest_checkpoint(self.settings.out_dir)
                if latest is not None and not self.settings.resume:
                    raise CheckpointError(
                        f"{self.settings.out_dir} already holds checkpoints of a run (newest: {latest.name}); "
                        "continue it with resume (CLI: --resume), or choose an empty output folder so it is "
                        "not overwritten")
                if latest is not None:
                    state = load_checkpoint(latest, trust_changed=self.settings.trust_changed or None)
                    if state.get("inference_only"):
                        raise CheckpointError(f"{latest.name} is an inference-only export (no optimizer or "
                                              "discriminator state); training cannot continue from it")
                    if state.get("recipe") != self.recipe_class.name:
                        raise CheckpointError(f"{latest.name} was trained with recipe {state.get('recipe')!r}, "
                                              f"not {self.recipe_class.name!r}")
            except Exception as exc:  # shared so every rank fails the same way instead of hanging
                error = exc
        if ctx.enabled:
            shared = [(state, error)]
            torch.distributed.broadcast_object_list(shared, src=0)
            state, error = shared[0]
        if error is not None:
            raise error
        return state

    def _config(self, resume_state: dict[str, Any] | None) -> RecipeConfig:
        cls = self.recipe_class.config_class
        if resume_state is None:
            return config_from_dict(cls, self.overrides)
        if not isinstance(resume_state.get("config"), dict):
            raise CheckpointError(f"{self._resume_name(resume_state)}: holds no table of settings (config); "
                                  "the file is damaged or was edited")
        try:
            saved = config_from_dict(cls, dict(resume_state["config"])).to_dict()
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"{self._resume_name(resume_state)}: cannot resume from it: its configuration "
                                  f"is not one this version builds ({exc})") from exc
        config = config_from_dict(cls, {**saved, **self.overrides})
        now = config.to_dict()
        changed = [k for k in self.overrides if now[k] != saved[k]]
        if changed:
            was = ", ".join(f"{k}={saved[k]!r}" for k in changed)
            asked = ", ".join(f"{k}={now[k]!r}" for k in changed)
            raise CheckpointError(f"the checkpoint was trained with {was}, but {asked} was asked for; resume "
                                  "with the same settings, or start a new run in another output folder")
        return config

    def _resume_name(self, state: dict[str, Any]) -> str:
        return checkpoint_path(self.settings.out_dir, int(state.get("step", 0))).name

    def _restore(self, state, recipe, precision, sampler, ctx, dataset) -> int:
        try:  # shapes and keys are checked first (Recipe.load_state_dict): a message, not a traceback
            recipe.load_state_dict(state["model"])
            precision.scaler.load_state_dict(state["grad_scaler"])
            sampler.load_state_dict(state["sampler"])
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()] or [type(exc).__name__]
            # torch's load_state_dict error: the line naming the tensor and both shapes says most
            why = next((ln for ln in lines if ln.startswith(("size mismatch", "Missing key", "Unexpected key"))),
                       lines[0])
            why = f"it lacks {why}" if isinstance(exc, KeyError) else why
            raise CheckpointError(f"{self._resume_name(state)}: cannot resume from it: {why}") from exc
        card = state.get("dataset", {})
        if card.get("fingerprint") and card["fingerprint"] != dataset.fingerprint and ctx.is_main:
            warnings.warn(f"the dataset in {dataset.root} differs from the one this checkpoint was trained on; "
                          "training continues on the new data", stacklevel=2)
        rng = state.get("rng", [])
        if len(rng) == ctx.world_size:
            restore_rng_state(rng[ctx.rank])
        else:  # another number of processes: continue reproducibly, if not identically
            seed_everything(derive_seed(int(state["seed"]), ctx.rank, int(state["step"])))
        return int(state["step"])

    def _save(self, step, recipe, precision, sampler, losses, info) -> Path | None:
        ctx = info["ctx"]
        nets = [recipe.network(n) for n in recipe.network_names]
        # A collective (every rank takes part): each rank's random state for exact resume, and a
        # parameter checksum showing DDP kept the replicas identical.
        ranks = ddp.gather(ctx, {"rng": capture_rng_state(), "checksum": ddp.parameter_checksum(nets)})
        if not ctx.is_main:
            return None
        sums = [r["checksum"] for r in ranks]
        in_sync = max(sums) - min(sums) <= 1e-9 * max(1.0, abs(sums[0]))
        if not in_sync:
            warnings.warn(f"the {ctx.world_size} training processes hold different weights at step {step}; "
                          "the recipe probably bypasses its DDP-wrapped networks", stacklevel=2)
        t0 = time.perf_counter()
        dataset = info["dataset"]
        data = {"path": str(dataset.root), "fingerprint": dataset.fingerprint, "n_images": len(dataset),
                "pattern": self.settings.pattern}
        payload = {"recipe": recipe.name, "config": info["config"].to_dict(), "step": step, "seed": info["seed"],
                   "world_size": ctx.world_size, "model": recipe.state_dict(),
                   "grad_scaler": precision.scaler.state_dict(), "rng": [r["rng"] for r in ranks],
                   "sampler": sampler.state_dict(),
                   "metrics": dict(losses), "dataset": data}
        card = model_card(payload, dataset=data, device=str(info["device"]), precision=precision.mode,
                          replicas_in_sync=in_sync)
        target = checkpoint_path(self.settings.out_dir, step)
        try:
            path, card_path = save_checkpoint(target, payload, card)
        except OSError as exc:
            raise CheckpointError(_write_failed(exc, target, self.settings.out_dir)) from exc
        prune_checkpoints(self.settings.out_dir, self.settings.keep_checkpoints)
        self._emit(CheckpointEvent(step, str(path), str(card_path), time.perf_counter() - t0))
        return path

    def _emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception as exc:  # a broken progress display must not kill a long run
                warnings.warn(f"training event listener {listener!r} failed: {exc!r}", stacklevel=2)


def _write_failed(exc: OSError, target: Path, out_dir: str) -> str:
    """What a failed checkpoint write means for the run: which file, why, and what is intact."""
    why = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        why += " (the disk is full: free some space)"
    elif exc.errno == getattr(errno, "EDQUOT", None):
        why += " (the disk quota is used up: free some space)"
    last = latest_checkpoint(out_dir)
    if last == target:  # the file was written, its model card was not
        why += f"; {target.name} itself is complete, but has no model card"
    if last is None:
        kept = "no earlier checkpoint of this run exists, so nothing was lost but the training itself"
    else:
        kept = (f"the newest complete checkpoint, {last.name} in {last.parent}, is intact: continue from it "
                "with resume (CLI: --resume) once the problem is fixed")
    return f"could not write checkpoint {target.name} to {target.parent}: {why}; {kept}"


def _describe_error(exc: BaseException, trainer: Trainer) -> str:
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return (f"out of memory at step {trainer.step + 1}: reduce the batch size or the image size, "
                f"or train on another device ({exc})")
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc) or type(exc).__name__
