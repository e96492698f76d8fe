"""Multi-process data-parallel training, switched on by ``torchrun``.

``torchrun --nproc_per_node K`` sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR in each
process's environment; :func:`context_from_env` reads them, so the same CLI command trains on one
process or K without a flag. Backends: NCCL between GPUs, gloo on CPU. Each process sees its own
shard of the data; gradients are averaged by ``DistributedDataParallel``. Only rank 0 writes
checkpoints and logs (the trainer checks :attr:`DistContext.is_main`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context_from_env(env: dict[str, str] | None = None) -> DistContext:
    """The process's place in a torchrun job (rank 0 of 1 when not launched by torchrun)."""
    env = os.environ if env is None else env
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise ValueError(f"malformed torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {exc}") from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"malformed torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return DistContext(rank=rank, world_size=world, local_rank=local)


def init_process_group(ctx: DistContext, device: torch.device, timeout_s: float = 600) -> DistContext:
    """Join the process group (NCCL on CUDA, gloo otherwise); a no-op for a single process."""
    if not ctx.enabled:
        return ctx
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://", rank=ctx.rank,
                                world_size=ctx.world_size, timeout=timedelta(seconds=timeout_s))
    return DistContext(ctx.rank, ctx.world_size, ctx.local_rank, dist.get_backend())


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def wrap_ddp(module: nn.Module, device: torch.device) -> nn.Module:
    """Wrap ``module`` so its gradients are averaged over all processes at each backward."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def _comm_device(ctx: DistContext) -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if ctx.backend == "nccl" else torch.device("cpu")


def any_rank(ctx: DistContext, flag: bool) -> bool:
    """True on every rank if ``flag`` is true on any rank: ranks must stop at the same step, or
    the others would wait forever in the next collective."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=_comm_device(ctx))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_ranks(ctx: DistContext, values: dict[str, float]) -> dict[str, float]:
    """Average each scalar over ranks so rank 0 logs the losses of the whole global batch."""
    if not ctx.enabled or not values:
        return values
    keys = sorted(values)  # the same order on every rank
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_comm_device(ctx))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    means = {k: float(v) / ctx.world_size for k, v in zip(keys, t.tolist())}
    return {k: means[k] for k in values}  # keep the recipe's order for display


def gather(ctx: DistContext, obj: Any) -> list[Any]:
    """``obj`` from every rank, in rank order (a one-element list for a single process)."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def parameter_checksum(modules: list[nn.Module]) -> float:
    """A number that differs between replicas whose parameters differ (float64 sums)."""
    total = 0.0
    with torch.no_grad():
        for m in modules:
            for i, p in enumerate(m.parameters()):
                total += float(p.detach().double().sum()) * (i + 1) + float(p.detach().double().abs().sum())
    return total
