"""Where a job child puts its job's model: the first N GPUs of its worker's group.

The launcher tells each group worker its size (and per-GPU cap) through the environment; the
job's queue says how many GPUs it needs (``workers.gpu_groups``). A one-GPU worker, or a job
of one GPU, loads as before on one device.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext

from harness.placement import Placement, spread_over
from skipbench.errors import InvalidInput
from workers.gpu_groups import queue_gpus
from workers.launcher import GROUP_GPUS_ENV, MAX_MEMORY_ENV


def worker_gpu_count() -> int:
    raw = os.environ.get(GROUP_GPUS_ENV, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


def placement_for(queue: str) -> Placement | None:
    """The placement of a job from ``queue`` on this worker; None: one device, as always."""
    need, owned = queue_gpus(queue), worker_gpu_count()
    if need > owned:
        raise InvalidInput(
            f"the job needs {need} GPUs (queue {queue!r}) but this worker owns {owned}; "
            f"start a worker with --gpu-groups of {need} GPUs"
        )
    if owned == 1:
        return None
    return Placement(gpus=need, max_memory_per_gpu=os.environ.get(MAX_MEMORY_ENV) or None)


def placed(queue: str) -> AbstractContextManager:
    """Run a job from ``queue`` inside this: its model loads on the placement's GPUs."""
    placement = placement_for(queue)
    return nullcontext() if placement is None else spread_over(placement)
