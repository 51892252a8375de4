"""Close a job's runs when the worker gives the job up, so that no run stays ``running``.

Every give-up path ends the job's unfinished runs ``failed`` with the job's reason: attempts
exhausted (at claim or at reconcile), the hard time limit (in the worker parent, before the
child is terminated, so the child's own last write cannot replace the reason), a job failed
inside its child (leftovers of earlier attempts), and a child that ends itself because the
job was cancelled or taken over. A closed run stays resumable: ``skipbench retry`` resumes it.
"""

from __future__ import annotations

import logging

from db import jobs
from db.store import Store
from harness import process_identity
from workers.store_retry import with_retries

log = logging.getLogger("skipbench.worker")


def close_job_runs(url: str, job_id: int, reason: str, retry_s: float = 0.0) -> list[int]:
    """End every ``running`` run of job ``job_id`` ``failed`` with ``reason`` and point the
    ended job at its newest run; the ids closed.

    Never raises: a store that cannot be reached leaves the runs to ``reconcile_runs``."""

    def close() -> list[int]:
        closed = Store(url, migrate=False).close_job_runs_failed(job_id, reason)
        jobs.link_latest_run(url, job_id)
        return closed

    try:
        closed = with_retries(close, f"job {job_id}: close runs", retry_s)
    except Exception as exc:
        log.warning("job %s: could not close its runs: %s: %s", job_id, type(exc).__name__, exc)
        return []
    if closed:
        log.warning(
            "job %s: run(s) %s closed as failed: %s", job_id, closed, reason.splitlines()[0]
        )
    return closed


def close_runs_of_this_process(url: str, job_id: int, reason: str) -> list[int]:
    """End ``failed`` the running runs of job ``job_id`` that this process is running (a run
    another process resumed meanwhile is left alone); their ids. Never raises."""
    me = process_identity.this_process()
    try:
        store = Store(url, migrate=False)
        running = [r.id for r in jobs.job_runs(url, job_id) if r.status == "running"]
        return [rid for rid in running if store.close_run_failed(rid, reason, process=me)]
    except Exception as exc:
        log.warning("job %s: could not close its run: %s: %s", job_id, type(exc).__name__, exc)
        return []


def stop_reason(state: str) -> str:
    """The run's error when its job stopped being ours (``Heartbeat``'s store verdict)."""
    if state == "cancelled":
        return "cancelled by user"
    if state == "lost":
        return "stopped: another worker took the job over"
    return f"stopped: the job is {state} in the store"
