"""How to run a training (as opposed to *what* to train, which is a recipe's config).

No torch here: the CLI's parser and the Train panel read their defaults from
:class:`TrainSettings` without loading the engine, so both offer the same defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")


@dataclass
class TrainSettings:
    """How to run (as opposed to *what* to train, which is the recipe's config)."""

    data_dir: str
    out_dir: str
    steps: int = 1000
    checkpoint_every: int = 500
    #: Emit preview images every this many steps (and after the first and last step); 0: never.
    preview_every: int = 100
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    #: Continue from the newest checkpoint in ``out_dir`` (start fresh if there is none).
    resume: bool = False
    #: Checkpoints kept on disk (older ones are deleted); 0 keeps all.
    keep_checkpoints: int = 5
    #: Only dataset files whose name matches this glob pattern (e.g. ``*_t1ce.nii.gz``).
    pattern: str = "*"
    #: Ask cuDNN for deterministic kernels (slower); CPU runs are deterministic anyway.
    deterministic: bool = False
    #: CPU threads for torch's operators (None: torch's default, one per core). Process-wide;
    #: a GUI leaves a core free so its event loop is not starved by spinning worker threads.
    threads: int | None = None
    #: Resume even from a checkpoint whose model card records another SHA-256 (CLI: --trust-changed).
    trust_changed: bool = False

    def validate(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, not {self.steps}")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint interval must be at least 1 step, not {self.checkpoint_every}")
        if self.preview_every < 0:
            raise ValueError(f"preview interval must be 0 (never) or positive, not {self.preview_every}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, not {self.threads}")
        if self.seed < 0:
            raise ValueError(f"seed must be 0 or positive, not {self.seed}")
        if self.device not in DEVICE_CHOICES and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, not {self.device!r}")
        if self.precision not in PRECISION_CHOICES:
            raise ValueError(f"precision must be one of {', '.join(PRECISION_CHOICES)}, not {self.precision!r}")
        if not str(self.out_dir):
            raise ValueError("choose an output folder for checkpoints")
