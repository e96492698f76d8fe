"""Where and in which number format training runs.

Device: "auto" takes the fastest accelerator present (CUDA, then Apple MPS, then CPU) so the same
command works on a laptop and a GPU server; an explicit choice that is not available is an error,
not a silent fallback, because a run that quietly lands on the CPU wastes hours.

Precision: mixed precision (autocast) only pays off on a GPU. bf16 needs no loss scaling; fp16
does, so :class:`Precision` owns the ``GradScaler`` that recipes use through ``backward``/``step``.
"""

from __future__ import annotations

import contextlib

import torch

from .settings import DEVICE_CHOICES, PRECISION_CHOICES


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def select_device(choice: str = "auto", local_rank: int = 0) -> torch.device:
    """Resolve ``choice`` to a device; under DDP each process takes GPU ``local_rank``."""
    if choice not in DEVICE_CHOICES and not choice.startswith("cuda:"):
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)} (or cuda:N), not {choice!r}")
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {choice!r} was requested but this PyTorch build sees no CUDA GPU "
                             f"(torch {torch.__version__}); use --device cpu or auto")
        return torch.device(choice) if ":" in choice else torch.device("cuda", local_rank % torch.cuda.device_count())
    if choice == "mps" and not _mps_available():
        raise ValueError("device 'mps' was requested but Apple's Metal backend is not available here")
    return torch.device(choice)


class Precision:
    """Autocast context plus gradient scaling for one device.

    Recipes call ``with precision.autocast(): ...``, then ``precision.backward(loss)`` and
    ``precision.step(optimizer)``; the trainer calls :meth:`update` once per training step.
    """

    def __init__(self, mode: str, device: torch.device):
        if mode not in PRECISION_CHOICES:
            raise ValueError(f"precision must be one of {', '.join(PRECISION_CHOICES)}, not {mode!r}")
        on_gpu = device.type == "cuda"
        if mode == "auto":
            mode = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if on_gpu else "fp32"
        if mode != "fp32" and not on_gpu:
            raise ValueError(f"mixed precision ({mode}) is only used on a CUDA GPU; on {device.type} use fp32")
        self.mode = mode
        self.device = device
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode)
        self.scaler = torch.amp.GradScaler(device.type, enabled=mode == "fp16")

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        self.scaler.step(optimizer)

    def update(self) -> None:
        self.scaler.update()
