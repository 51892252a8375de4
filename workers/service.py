"""What the CLI does to the service: submit, cancel, retry (store first, then the broker)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from db import jobs
from db.engine import upgrade
from db.models import Job
from skipbench.errors import InvalidInput
from skipbench.settings import Settings, get_settings
from workers import broker
from workers.gpu_groups import base_queue, queue_gpus, sized_queue
from workers.job_sizing import size_job
from workers.worker_registry import seen_workers, smallest_gpu_bytes, waiting_reason

if TYPE_CHECKING:
    from celery import Celery

    from harness.runner import RunSpec


@dataclass(frozen=True)
class Submitted:
    job: Job
    created: bool
    sizing: str | None = None  # how many GPUs the job needs and why (workers.job_sizing)


_apps: dict[tuple[str, str, str], Celery] = {}


def celery_app(settings: Settings) -> Celery:
    """One app per broker/queue (the producer pool is shared by threads)."""
    from workers.app import make_app

    key = (settings.broker_url, settings.result_backend, settings.queue)
    if key not in _apps:
        _apps[key] = make_app(settings)
    return _apps[key]


def send(
    job_id: int,
    task_id: str,
    queue: str,
    settings: Settings,
    hard_time_limit_s: float | None = None,
) -> None:
    """Publish the job's message (only its id, and its hard time limit for Celery to enforce);
    a few quick retries, then ``BrokerUnavailable``."""
    from workers.app import TASK_NAME

    try:
        celery_app(settings).send_task(
            TASK_NAME,
            args=[job_id],
            queue=queue,
            task_id=task_id,
            time_limit=hard_time_limit_s,
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
    job = jobs.require_job(settings.db_url, job_id)
    send(job_id, task_id, queue, settings, job.hard_time_limit_s)
    return task_id


def time_limits(
    settings: Settings, time_limit_s: float | None = None, hard_time_limit_s: float | None = None
) -> tuple[float, float]:
    """A job's (soft, hard) limits: given, or the settings' (hard: soft + the settings' gap)."""
    soft = settings.job_soft_time_limit_s if time_limit_s is None else time_limit_s
    gap = max(60.0, settings.job_hard_time_limit_s - settings.job_soft_time_limit_s)
    if hard_time_limit_s is not None:
        hard = hard_time_limit_s
    elif time_limit_s is None:
        hard = settings.job_hard_time_limit_s
    else:
        hard = soft + gap
    if not 0 < soft < hard:
        raise InvalidInput(
            f"time limits soft={soft:g} s, hard={hard:g} s: need 0 < time limit < hard limit"
        )
    if hard >= settings.broker_visibility_timeout_s:
        raise InvalidInput(
            f"hard time limit {hard:g} s: must stay below the broker's visibility timeout of "
            f"{settings.broker_visibility_timeout_s} s (SKIPBENCH_VISIBILITY_TIMEOUT_S)"
        )
    return soft, hard


def submit(
    spec: RunSpec,
    *,
    queue: str | None = None,
    force: bool = False,
    settings: Settings | None = None,
    time_limit_s: float | None = None,
    hard_time_limit_s: float | None = None,
    gpus_per_job: int | None = None,
) -> Submitted:
    """Store the job (or find it by key) and enqueue it if new.

    A job that needs N > 1 GPUs (given, or estimated: ``workers.job_sizing``) goes to the
    queue ``<queue>.gpusN``, which only workers of N or more GPUs serve.

    The job carries its own time limits (``time_limits``). The broker is checked first so
    that an unreachable one leaves no job behind; if it goes away between the check and the
    send, the job stays ``queued`` and reconcile sends it.
    """
    settings = settings or get_settings()
    queue = queue or settings.queue
    limits = time_limits(settings, time_limit_s, hard_time_limit_s)
    broker.ping(settings.broker_url)
    sizing = size_job(
        spec.model.source,
        spec.model.dtype,
        spec.model.device,
        gpus_per_job,
        smallest_gpu_bytes(seen_workers(settings.broker_url, queue)),
    )
    queue = sized_queue(queue, sizing.gpus)
    upgrade(settings.db_url)
    job, created = jobs.create_or_get(
        settings.db_url, spec.key(), spec.to_dict(), queue, force=force, limits=limits
    )
    if created:
        enqueue(job.id, queue, settings)
        job = jobs.require_job(settings.db_url, job.id)
    return Submitted(job, created, sizing.reason)


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


def waiting_reasons(jobs_: list[Job], broker_url: str) -> dict[int, str]:
    """Queued jobs that no worker seen so far can take, with why (the registry is read only
    when some queued job needs more than one GPU)."""
    sized = [j for j in jobs_ if j.status == "queued" and queue_gpus(j.queue) > 1]
    seen: dict[str, list] = {}
    found = {}
    for job in sized:
        base = base_queue(job.queue)
        if base not in seen:
            seen[base] = seen_workers(broker_url, base)
        reason = waiting_reason(job.queue, seen[base])
        if reason:
            found[job.id] = reason
    return found


def job_summary(job: Job, waiting: str | None = None) -> dict[str, Any]:
    """A job as JSON (status --json, submit --json)."""
    spec = job.spec or {}
    return {
        "job_id": job.id,
        "key": job.key,
        "generation": job.generation,
        "status": job.status,
        "queue": job.queue,
        "gpus": queue_gpus(job.queue),
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
        "time_limits_s": {"soft": job.soft_time_limit_s, "hard": job.hard_time_limit_s},
        "run_id": job.run_id,
        "error": job.error,
        "waiting": waiting,
    }
