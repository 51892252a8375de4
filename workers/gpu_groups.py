"""GPU groups and the queues sized for them (torch-free: the launcher and ``submit`` use it).

``--gpu-groups 0+1,2+3`` names groups of GPUs; one worker owns each group and loads a job's
model across it. A job that needs N GPUs goes to the queue ``<queue>.gpusN`` (N = 1 keeps the
plain ``<queue>``, so one-GPU jobs and workers are unchanged). A worker of k GPUs serves the
queues of every size up to k, its own size first; a job of n < k GPUs is spread over the
group's first n GPUs only, so where a job ran never changes how its model was placed.
"""

from __future__ import annotations

import re

from skipbench.errors import InvalidInput

SIZE_SUFFIX = ".gpus"
_SIZED = re.compile(r"^(?P<base>.+)\.gpus(?P<n>[0-9]+)$")
MAX_GROUP = 64


def parse_groups(groups: str) -> list[tuple[str, ...]]:
    """``"0+1,2+3"`` -> ``[("0", "1"), ("2", "3")]``; bad syntax or overlap is ``InvalidInput``."""
    items = [g.strip() for g in groups.split(",")]
    if not groups.strip() or any(not g for g in items):
        raise InvalidInput(
            f"--gpu-groups {groups!r}: expected groups of GPU indices like 0+1,2+3 "
            "(+ inside a group, commas between groups)"
        )
    parsed: list[tuple[str, ...]] = []
    seen: dict[str, str] = {}
    for item in items:
        members = tuple(m.strip() for m in item.split("+"))
        if any(not m.isdigit() for m in members):
            raise InvalidInput(
                f"--gpu-groups {groups!r}: group {item!r} is not GPU indices joined by + (e.g. 0+1)"
            )
        if len(set(members)) != len(members):
            raise InvalidInput(f"--gpu-groups {groups!r}: group {item!r} names a GPU twice")
        for gpu in members:
            if gpu in seen:
                raise InvalidInput(
                    f"--gpu-groups {groups!r}: GPU {gpu} is in groups {seen[gpu]!r} and "
                    f"{item!r}; groups must not overlap"
                )
            seen[gpu] = item
        parsed.append(members)
    return parsed


def check_disjoint(gpus: list[str], groups: list[tuple[str, ...]]) -> None:
    """A GPU given both to a one-GPU worker (``--gpus``) and to a group is refused."""
    grouped = {g for group in groups for g in group}
    both = [g for g in gpus if g in grouped]
    if both:
        raise InvalidInput(
            f"GPU {', '.join(both)} is in both --gpus and --gpu-groups; give each GPU to one worker"
        )


def group_label(group: tuple[str, ...]) -> str:
    """What the job row and the worker's hostname call a group: ``0+1``."""
    return "+".join(group)


def sized_queue(base: str, gpus: int) -> str:
    """The queue of jobs that need ``gpus`` GPUs."""
    if gpus < 1:
        raise InvalidInput(f"gpus per job = {gpus}: must be at least 1")
    return base if gpus == 1 else f"{base}{SIZE_SUFFIX}{gpus}"


def queue_gpus(queue: str) -> int:
    """How many GPUs the jobs of ``queue`` need (1 for a queue without a size suffix)."""
    match = _SIZED.match(queue)
    return int(match["n"]) if match else 1


def base_queue(queue: str) -> str:
    match = _SIZED.match(queue)
    return match["base"] if match else queue


def served_queues(base: str, group_size: int) -> list[str]:
    """The queues a worker of ``group_size`` GPUs consumes: its own size first, then smaller."""
    return [sized_queue(base, n) for n in range(group_size, 0, -1)]


def check_gpus_per_job(gpus: int) -> int:
    if not 1 <= gpus <= MAX_GROUP:
        raise InvalidInput(f"--gpus-per-job {gpus}: allowed 1..{MAX_GROUP}")
    return gpus
