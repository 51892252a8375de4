"""The Celery app, configured from the one Settings object.

``celery -A workers.app:app worker`` uses the module-level ``app``; code that needs other
settings (tests, ``submit``) calls ``make_app(settings)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from skipbench.settings import Settings, get_settings

if TYPE_CHECKING:
    from celery import Celery

TASK_NAME = "skipbench.run_job"


def celery_config(settings: Settings) -> dict:
    """Worker and queue behaviour that exactly-once jobs rely on (see docs/deploy.md)."""
    transport = {"visibility_timeout": settings.broker_visibility_timeout_s}
    return {
        "broker_url": settings.broker_url,
        "result_backend": settings.result_backend,
        "task_default_queue": settings.queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        # a job is acknowledged only after it ended; a lost child puts it back on the queue.
        # A job the worker could not claim or record (store unreachable) is rejected with
        # requeue instead (workers/tasks.py); acks on failure then only cover the hard limit.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        # one job at a time per GPU, nothing reserved ahead, a fresh process per job
        "worker_concurrency": 1,
        "worker_prefetch_multiplier": 1,
        "worker_max_tasks_per_child": 1,
        # Redis redelivers an unacknowledged message only after the longest job could have run
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        # the job's own time limit is checked at its progress reports (workers/lifecycle.py);
        # Celery's soft limit, raised wherever the job happens to be, is not used. The hard
        # limit is the backstop: each message carries its job's (workers/service.py).
        "task_soft_time_limit": None,
        "task_time_limit": settings.job_hard_time_limit_s,
        # results live in the store; the backend keeps only what Flower shows
        "task_ignore_result": True,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "broker_connection_retry_on_startup": True,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
    }


def make_app(settings: Settings | None = None) -> Celery:
    from celery import Celery

    settings = settings or get_settings()
    celery = Celery("skipbench", include=["workers.tasks"])
    celery.conf.update(celery_config(settings))
    return celery


app = make_app()
