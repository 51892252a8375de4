"""Make the broker agree with the store again.

- ``queued`` jobs whose message the broker no longer has (Redis restarted without
  persistence, or ``submit`` could not reach it) are sent again;
- ``running`` jobs whose heartbeat stopped longer than ``heartbeat_stale_s`` (their worker
  died with the message still unacknowledged) go back to ``queued`` and are sent again, or
  end ``failed`` after ``job_max_attempts``.

Duplicated messages are harmless: a worker runs a job only after claiming its row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from db import jobs
from db.engine import upgrade
from skipbench.settings import Settings, get_settings
from workers import broker


@dataclass(frozen=True)
class ReconcileReport:
    queue: str
    in_broker: int
    lost: tuple[int, ...]
    stale: tuple[int, ...]
    gave_up: tuple[int, ...]
    sent: tuple[int, ...]

    @property
    def changed(self) -> bool:
        return bool(self.lost or self.stale or self.gave_up)

    def summary(self) -> str:
        return (
            f"queue {self.queue}: {len(self.lost)} lost job(s) re-sent {list(self.lost)}, "
            f"{len(self.stale)} stale running job(s) requeued {list(self.stale)}, "
            f"{len(self.gave_up)} given up {list(self.gave_up)}; broker holds {self.in_broker} message(s)"
        )


def reconcile(settings: Settings | None = None, queue: str | None = None) -> ReconcileReport:
    from workers.service import send

    settings = settings or get_settings()
    queue = queue or settings.queue
    upgrade(settings.db_url)
    ids = broker.task_ids(settings.broker_url, [queue])
    plan = jobs.plan_reconcile(
        settings.db_url,
        queue,
        ids,
        settings.heartbeat_stale_s,
        settings.enqueue_grace_s,
        settings.job_max_attempts,
        uuid.uuid4,
    )
    sent = []
    for job_id, task_id in plan.to_send:
        send(job_id, task_id, queue, settings, plan.hard_limits.get(job_id))
        sent.append(job_id)
    return ReconcileReport(
        queue, len(ids), tuple(plan.lost), tuple(plan.stale), tuple(plan.gave_up), tuple(sent)
    )
