"""Make the broker agree with the store again.

- ``queued`` jobs whose message the broker no longer has (Redis restarted without
  persistence, or ``submit`` could not reach it) are sent again;
- ``running`` jobs whose heartbeat stopped longer than ``heartbeat_stale_s`` (their worker
  died with the message still unacknowledged) go back to ``queued`` and are sent again, or
  end ``failed`` after ``job_max_attempts``, and so do their unfinished runs;
- ``running`` runs whose recorded process on this host is gone (killed, ``os._exit``) end
  ``failed``, resumable (``harness.run_reconcile``); other hosts' runs are left to theirs.

Duplicated messages are harmless: a worker runs a job only after claiming its row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from db import jobs
from db.engine import upgrade
from db.store import Store
from harness.run_reconcile import reconcile_runs
from skipbench.settings import Settings, get_settings
from workers import broker
from workers.run_closing import close_job_runs


@dataclass(frozen=True)
class ReconcileReport:
    queue: str
    in_broker: int
    lost: tuple[int, ...]
    stale: tuple[int, ...]
    gave_up: tuple[int, ...]
    sent: tuple[int, ...]
    runs_closed: dict[int, str] = field(default_factory=dict)  # run id -> the reason stored

    @property
    def changed(self) -> bool:
        return bool(self.lost or self.stale or self.gave_up or self.runs_closed)

    def summary(self) -> str:
        return (
            f"queue {self.queue}: {len(self.lost)} lost job(s) re-sent {list(self.lost)}, "
            f"{len(self.stale)} stale running job(s) requeued {list(self.stale)}, "
            f"{len(self.gave_up)} given up {list(self.gave_up)}; broker holds {self.in_broker} message(s); "
            f"{len(self.runs_closed)} run(s) closed as failed {list(self.runs_closed)}"
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
    runs_closed: dict[int, str] = {}
    for job_id in plan.gave_up:
        job = jobs.get_job(settings.db_url, job_id)
        reason = (job.error if job else None) or "gave up"
        runs_closed.update(dict.fromkeys(close_job_runs(settings.db_url, job_id, reason), reason))
    sent = []
    for job_id, task_id in plan.to_send:
        send(job_id, task_id, queue, settings, plan.hard_limits.get(job_id))
        sent.append(job_id)
    runs_closed.update(reconcile_runs(Store(settings.db_url, migrate=False)).closed)
    return ReconcileReport(
        queue,
        len(ids),
        tuple(plan.lost),
        tuple(plan.stale),
        tuple(plan.gave_up),
        tuple(sent),
        runs_closed,
    )
