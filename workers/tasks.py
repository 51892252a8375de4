"""The one task: run a job by id. Importing this module also connects the worker hooks."""

from __future__ import annotations

import logging
import time

from celery import Task
from celery.exceptions import Reject

from skipbench.settings import get_settings
from workers import hooks  # noqa: F401  (worker signals)
from workers.app import TASK_NAME, app
from workers.run_closing import close_job_runs
from workers.store_retry import StoreUnreachable

log = logging.getLogger("skipbench.worker")


class JobTask(Task):
    """Ends the job in the store when Celery kills it at the hard time limit (runs in the parent)."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:  # noqa: ANN001
        if type(exc).__name__ != "TimeLimitExceeded" or not args:
            return
        from db import jobs

        settings = get_settings()
        job = jobs.get_job(settings.db_url, int(args[0]))
        hard = (job.hard_time_limit_s if job else None) or settings.job_hard_time_limit_s
        error = f"time limit: killed at the hard limit of {hard:g} s"
        if jobs.finish(settings.db_url, int(args[0]), task_id, "failed", error=error):
            # before the child is terminated (billiard calls this first): its run ends with
            # this reason, and the child's own last write (the run still running) is a no-op
            close_job_runs(settings.db_url, int(args[0]), error, settings.store_retry_s)


@app.task(name=TASK_NAME, bind=True, base=JobTask)
def run_job(self: Task, job_id: int) -> str:
    """Carries only the job id; the worker reads everything else from the store.

    A job this worker could not claim or record for want of a store is never acknowledged:
    its message goes back to the queue (after a pause in which the worker's store check
    stops it taking more), for a worker that reaches the store.
    """
    from workers.lifecycle import run_job as run

    settings = get_settings()
    try:
        outcome = run(int(job_id), self.request.id, settings)
    except StoreUnreachable as exc:
        log.warning("job %s: %s; message requeued, not acknowledged", job_id, exc)
        time.sleep(min(30.0, 2 * settings.store_check_interval_s))
        raise Reject(str(exc), requeue=True) from exc
    log.info("job %s: %s", job_id, outcome.status)
    return outcome.status
