"""The one task: run a job by id. Importing this module also connects the worker hooks."""

from __future__ import annotations

import logging

from celery import Task

from skipbench.settings import get_settings
from workers import hooks  # noqa: F401  (worker signals)
from workers.app import TASK_NAME, app

log = logging.getLogger("skipbench.worker")


class JobTask(Task):
    """Ends the job in the store when Celery kills it at the hard time limit (runs in the parent)."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:  # noqa: ANN001
        if type(exc).__name__ != "TimeLimitExceeded" or not args:
            return
        from db import jobs

        settings = get_settings()
        jobs.finish(
            settings.db_url,
            int(args[0]),
            task_id,
            "failed",
            error=f"time limit: killed at the hard limit of {settings.job_hard_time_limit_s} s",
        )


@app.task(name=TASK_NAME, bind=True, base=JobTask)
def run_job(self: Task, job_id: int) -> str:
    """Carries only the job id; the worker reads everything else from the store."""
    from workers.lifecycle import run_job as run

    outcome = run(int(job_id), self.request.id, get_settings())
    log.info("job %s: %s", job_id, outcome.status)
    return outcome.status
