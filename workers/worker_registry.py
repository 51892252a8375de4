"""Which workers have been seen: one Redis hash entry per worker, written by the launcher.

The store keeps jobs, not workers; the broker is where every worker connects anyway. The
launcher writes each worker's entry (its GPUs, the memory of the smallest of them, the queues
it serves) when it starts it, so ``submit`` can size a job against the GPUs that exist and
``status`` can say why a job no worker can take is waiting. An entry is a sighting, not a
liveness check: ``seen_at`` says when.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from workers import broker
from workers.gpu_groups import base_queue, queue_gpus

KEY_PREFIX = "skipbench:workers:"  # + the base queue: workers of other queues never matter


def registry_key(queue: str) -> str:
    return KEY_PREFIX + base_queue(queue)


def _client(url: str, timeout: float = 3.0):  # noqa: ANN202 -> redis.Redis
    import redis

    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"broker {broker.redact(url)!r}: the worker registry needs Redis")
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


@dataclass(frozen=True)
class WorkerEntry:
    name: str  # the Celery hostname, e.g. skipbench-gpus0+1@host
    gpus: int  # 0 for a CPU worker
    queues: tuple[str, ...]
    gpu_memory_bytes: int | None = None  # the smallest GPU of the worker (its cap, if lower)
    seen_at: float = 0.0  # unix time of the last sighting

    @classmethod
    def from_json(cls, raw: bytes | str) -> WorkerEntry | None:
        try:
            data = json.loads(raw)
            return cls(
                name=str(data["name"]),
                gpus=int(data["gpus"]),
                queues=tuple(data.get("queues") or ()),
                gpu_memory_bytes=data.get("gpu_memory_bytes"),
                seen_at=float(data.get("seen_at") or 0.0),
            )
        except (TypeError, ValueError, KeyError):
            return None


def register(url: str, entries: list[WorkerEntry]) -> None:
    """Record ``entries`` as seen now, under the base queue they serve (raises if the broker
    is unreachable)."""
    client = _client(url)
    now = time.time()
    for e in entries:
        if e.queues:
            client.hset(
                registry_key(e.queues[0]), e.name, json.dumps({**asdict(e), "seen_at": now})
            )


def seen_workers(url: str, queue: str) -> list[WorkerEntry]:
    """Every worker seen serving ``queue``'s family of queues; empty when the broker is no
    Redis or does not answer."""
    try:
        raw = _client(url).hvals(registry_key(queue))
    except Exception:
        return []
    entries = [WorkerEntry.from_json(r) for r in raw]
    return sorted((e for e in entries if e is not None), key=lambda e: e.name)


def smallest_gpu_bytes(workers: list[WorkerEntry]) -> int | None:
    sizes = [w.gpu_memory_bytes for w in workers if w.gpus and w.gpu_memory_bytes]
    return min(sizes) if sizes else None


def waiting_reason(queue: str, workers: list[WorkerEntry]) -> str | None:
    """Why a queued job of ``queue`` may wait for good, or None when some worker serves it."""
    need = queue_gpus(queue)
    if any(queue in w.queues for w in workers):
        return None
    if need == 1:
        return None  # one-GPU jobs: any plain worker serves them; nothing to explain
    bigger = [w for w in workers if w.gpus >= need]
    if not bigger:
        return f"waiting: needs {need} GPUs; no worker with {need} GPUs has been seen"
    names = ", ".join(w.name for w in bigger[:3])
    return (
        f"waiting: needs {need} GPUs; the workers with {need}+ GPUs seen ({names}) "
        f"serve other queues"
    )
