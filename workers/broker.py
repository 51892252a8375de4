"""What the broker holds, read straight from Redis (kombu's Redis transport layout).

Reconciliation compares these task ids with the jobs the store has as ``queued``. Kombu keeps
a queue as a Redis list named after it (plus one list per priority step) and messages handed
to a worker but not yet acknowledged in the ``unacked`` hash.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from skipbench.errors import InvalidInput

_PRIORITY_SEP = "\x06\x16"
_UNACKED = "unacked"


class BrokerUnavailable(RuntimeError):
    """No broker answered; the message is one line naming the URL."""


def redact(url: str) -> str:
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(url)


def _client(url: str, timeout: float = 3.0) -> Any:
    import redis

    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise InvalidInput(
            f"broker {redact(url)!r}: inspecting queues needs a Redis broker (redis://...)"
        )
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def ping(url: str, timeout: float = 3.0) -> None:
    """Raise ``BrokerUnavailable`` unless the broker answers within ``timeout`` seconds."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            _client(url, timeout).ping()
        except Exception as exc:
            raise BrokerUnavailable(
                f"no broker reachable at {redact(url)} ({type(exc).__name__})"
            ) from exc
        return
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        raise BrokerUnavailable(
            f"no broker reachable at {redact(url)} ({type(exc).__name__})"
        ) from exc


def _queue_keys(queue: str) -> list[str]:
    return [queue] + [f"{queue}{_PRIORITY_SEP}{p}" for p in range(1, 10)]


def message_task_id(raw: bytes | str) -> str | None:
    """The Celery task id inside one kombu message (a queue entry or an ``unacked`` value)."""
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if isinstance(data, list) and data:  # unacked: [message, exchange, routing_key]
        data = data[0]
    if not isinstance(data, dict):
        return None
    headers = data.get("headers") or {}
    task_id = headers.get("id") or (data.get("properties") or {}).get("correlation_id")
    return str(task_id) if task_id else None


def task_ids(url: str, queues: Iterable[str]) -> set[str]:
    """Task ids waiting in ``queues`` or delivered and not yet acknowledged."""
    client = _client(url)
    pipe = client.pipeline(transaction=True)
    keys = [k for q in queues for k in _queue_keys(q)]
    for key in keys:
        pipe.lrange(key, 0, -1)
    pipe.hvals(_UNACKED)
    *lists, unacked = pipe.execute()
    ids = {message_task_id(raw) for entries in lists for raw in entries}
    ids |= {message_task_id(raw) for raw in unacked}
    ids.discard(None)
    return ids  # type: ignore[return-value]


def queue_length(url: str, queue: str) -> int:
    client = _client(url)
    return sum(int(client.llen(k)) for k in _queue_keys(queue))


def remove_task(url: str, queue: str, task_id: str) -> bool:
    """Delete a waiting message from the queue (a cancelled job); True if one was removed."""
    client = _client(url)
    removed = 0
    for key in _queue_keys(queue):
        for raw in client.lrange(key, 0, -1):
            if message_task_id(raw) == task_id:
                removed += int(client.lrem(key, 1, raw))
    return removed > 0
