"""What the CLI does to the service: submit, cancel, retry (store first, then the broker)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from db import jobs
from db.engine import upgrade
from db.models import Job
from skipbench.settings import Settings, get_settings
from workers import broker

if TYPE_CHECKING:
    from celery import Celery

    from harness.runner import RunSpec


@dataclass(frozen=True)
class Submitted:
    job: Job
    created: bool


_apps: dict[tuple[str, str, str], Celery] = {}


def celery_app(settings: Settings) -> Celery:
    """One app per broker/queue (the producer pool is shared by threads)."""
    from workers.app import make_app

    key = (settings.broker_url, settings.result_backend, settings.queue)
    if key not in _apps:
        _apps[key] = make_app(settings)
    return _apps[key]


def send(job_id: int, task_id: str, queue: str, settings: Settings) -> None:
    """Publish the job's message (only its id); a few quick retries, then ``BrokerUnavailable``."""
    from workers.app import TASK_NAME

    try:
        celery_app(settings).send_task(
            TASK_NAME,
            args=[job_id],
            queue=queue,
            task_id=task_id,
            retry=True,
            retry_policy={
                "max_retries": 2,
                "interval_start": 0.2,
                "interval_step": 0.5,
                "interval_max": 1,
            },
        )
    except Exception as exc:
        raise broker.BrokerUnavailable(
            f"no broker reachable at {broker.redact(settings.broker_url)} ({type(exc).__name__})"
        ) from exc


def enqueue(job_id: int, queue: str, settings: Settings) -> str | None:
    """Record a fresh task id on the queued job and send it; None if the job is not queued."""
    task_id = str(uuid.uuid4())
    if not jobs.mark_enqueued(settings.db_url, job_id, task_id):
        return None
    send(job_id, task_id, queue, settings)
    return task_id


def submit(
    spec: RunSpec,
    *,
    queue: str | None = None,
    force: bool = False,
    settings: Settings | None = None,
) -> Submitted:
    """Store the job (or find it by key) and enqueue it if new.

    The broker is checked first so that an unreachable one leaves no job behind; if it goes
    away between the check and the send, the job stays ``queued`` and reconcile sends it.
    """
    settings = settings or get_settings()
    queue = queue or settings.queue
    broker.ping(settings.broker_url)
    upgrade(settings.db_url)
    job, created = jobs.create_or_get(
        settings.db_url, spec.key(), spec.to_dict(), queue, force=force
    )
    if created:
        enqueue(job.id, queue, settings)
        job = jobs.require_job(settings.db_url, job.id)
    return Submitted(job, created)


def cancel(job_id: int, settings: Settings | None = None) -> tuple[str, Job]:
    """Queued: marked cancelled and its message removed. Running: marked cancelled, then revoked
    (the child is terminated); the worker's heartbeat also notices. Returns (status before, job)."""
    settings = settings or get_settings()
    upgrade(settings.db_url)
    before, task_id = jobs.cancel(settings.db_url, job_id)
    job = jobs.require_job(settings.db_url, job_id)
    if task_id and before in ("queued", "running"):
        try:
            if before == "queued":
                broker.remove_task(settings.broker_url, job.queue, task_id)
            celery_app(settings).control.revoke(task_id, terminate=before == "running")
        except Exception:  # the store already says cancelled; workers skip it when it arrives
            pass
    return before, job


def retry(job_id: int, settings: Settings | None = None) -> Job:
    """A failed, cancelled or stuck job goes back to the queue; it resumes its stored run."""
    settings = settings or get_settings()
    broker.ping(settings.broker_url)
    upgrade(settings.db_url)
    job = jobs.reset_for_retry(settings.db_url, job_id, settings.heartbeat_stale_s)
    enqueue(job.id, job.queue, settings)
    return jobs.require_job(settings.db_url, job.id)


def job_summary(job: Job) -> dict[str, Any]:
    """A job as JSON (status --json, submit --json)."""
    spec = job.spec or {}
    return {
        "job_id": job.id,
        "key": job.key,
        "generation": job.generation,
        "status": job.status,
        "queue": job.queue,
        "model": (spec.get("model") or {}).get("source"),
        "method": spec.get("method"),
        "method_params": spec.get("method_params"),
        "suites": [s.get("name") for s in spec.get("suites", [])],
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "heartbeat_at": job.heartbeat_at.isoformat() if job.heartbeat_at else None,
        "worker_host": job.worker_host,
        "worker_gpu": job.worker_gpu,
        "progress": {"suite": job.progress_suite, "fraction": job.progress_fraction},
        "attempts": job.attempts,
        "run_id": job.run_id,
        "error": job.error,
    }
