"""Data-parallel training under ``torchrun``: what stage 1 needs of ``torch.distributed``, in one place.

``torchrun --standalone --nproc_per_node N -m wm_cli train ...`` starts N copies of the same run; each draws
its own batches, and after every backward pass the gradients are averaged over the copies, so all of them
take the same optimizer step (the effect of ``DistributedDataParallel``, without its wrapper: R is called
twice per step, on marked and on clean images, which the wrapper's gradient hooks do not allow). The first
copy (rank 0) logs, validates, checkpoints and exports. NCCL on GPUs, gloo on CPUs. Without ``torchrun``
everything here is a no-op.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

import torch
import torch.distributed as dist

__all__ = ["init_from_env", "rank", "world_size", "is_main", "average_gradients", "broadcast_parameters",
           "gather_objects", "main_first", "shutdown"]


def init_from_env(device: str) -> bool:
    """Join the process group that ``torchrun`` describes in the environment, if it does and none is joined
    yet; True if this call joined (the caller then calls ``shutdown``)."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1 or dist.is_initialized():
        return False
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return True


def rank() -> int:
    """This copy's index (0 without ``torchrun``)."""
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    """How many copies train together (1 without ``torchrun``)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    """Whether this copy logs, validates and writes files."""
    return rank() == 0


def average_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Replace each parameter's gradient by its mean over the copies (one flat all-reduce)."""
    if world_size() == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    for g, part in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(part.view_as(g))


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Give every copy rank 0's parameters and buffers."""
    if world_size() == 1:
        return
    for t in [*module.parameters(), *module.buffers()]:
        dist.broadcast(t.data, 0)


def gather_objects(obj: Any) -> list[Any]:
    """``obj`` of every copy, in rank order (``[obj]`` without ``torchrun``)."""
    if world_size() == 1:
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. writes a cache), the others after it has finished (and read it)."""
    if not is_main():
        dist.barrier()
    yield
    if is_main() and world_size() > 1:
        dist.barrier()


def shutdown() -> None:
    """Wait for the other copies (rank 0 may still be writing), then leave the process group."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
