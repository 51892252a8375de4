"""Job rows of the service: create-or-get by key, status transitions, heartbeat, progress.

The ``jobs`` table is the source of truth; the broker only carries job ids. Every transition
is a row-locked, conditional update, so concurrent submitters, workers, reconcilers and
cancels agree on one outcome:

    queued -> running -> succeeded | failed | cancelled

A worker owns a running job through ``celery_task_id`` (the message it was handed) and keeps
``heartbeat_at`` fresh; a running job whose heartbeat is older than ``stale_s`` may be taken
over. Results are protected separately: each suite's rows are written once (``db.store``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.engine import session_scope
from db.models import Job, Run, utcnow
from skipbench.errors import InvalidInput

TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Claim:
    """Outcome of a worker asking to run a job: ``ok`` or why not (``reason``)."""

    ok: bool
    reason: str  # claimed, resumed | succeeded, failed, cancelled, busy, missing, gave_up
    job: Job | None = None
    resume_run_id: int | None = None


def _rows_updated(session: Session, statement: Any) -> int:
    return cast(CursorResult, session.execute(statement)).rowcount


def _is_stale(job: Job, stale_s: float, now: datetime | None = None) -> bool:
    beat = job.heartbeat_at or job.started_at
    return beat is None or (now or utcnow()) - beat > timedelta(seconds=stale_s)


def _latest_run_id(session: Session, job_id: int) -> int | None:
    return session.scalar(
        select(Run.id).where(Run.job_id == job_id).order_by(Run.id.desc()).limit(1)
    )


# -- submission ------------------------------------------------------------------------------
def create_or_get(
    url: str,
    key: str,
    spec: dict[str, Any],
    queue: str,
    force: bool = False,
    limits: tuple[float | None, float | None] = (None, None),
) -> tuple[Job, bool]:
    """The job for ``key`` (newest generation), creating it if absent or if ``force``.

    Safe under concurrency: the unique (key, generation) index decides which insert wins; the
    losers read the winner's row. ``limits`` (soft, hard seconds) go with a new job only; an
    existing job keeps its own. Returns (job, created).
    """
    soft, hard = limits
    for _ in range(50):
        with session_scope(url) as s:
            latest = s.scalar(
                select(Job).where(Job.key == key).order_by(Job.generation.desc()).limit(1)
            )
            if latest is not None and not force:
                return latest, False
            generation = 0 if latest is None else latest.generation + 1
            job = Job(
                key=key,
                generation=generation,
                spec=spec,
                queue=queue,
                status="queued",
                soft_time_limit_s=soft,
                hard_time_limit_s=hard,
            )
            try:
                with s.begin_nested():
                    s.add(job)
            except IntegrityError:
                winner = s.scalar(select(Job).where(Job.key == key, Job.generation == generation))
                if winner is not None:
                    return winner, False
                continue
            return job, True
    raise RuntimeError(f"could not create or read the job for key {key[:12]}")


def mark_enqueued(url: str, job_id: int, task_id: str) -> bool:
    """Record the broker message about to carry a queued job (False if no longer queued)."""
    with session_scope(url) as s:
        updated = _rows_updated(
            s,
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(celery_task_id=task_id, enqueued_at=utcnow()),
        )
        return updated == 1


# -- reads -----------------------------------------------------------------------------------
def get_job(url: str, job_id: int) -> Job | None:
    with session_scope(url) as s:
        return s.get(Job, job_id)


def require_job(url: str, job_id: int) -> Job:
    job = get_job(url, job_id)
    if job is None:
        raise InvalidInput(f"no job {job_id}; see `skipbench status` for the job ids")
    return job


def list_jobs(
    url: str, queue: str | None = None, status: str | None = None, limit: int | None = 50
) -> list[Job]:
    """Newest first."""
    with session_scope(url) as s:
        q = select(Job).order_by(Job.id.desc())
        if queue:
            q = q.where(Job.queue == queue)
        if status:
            q = q.where(Job.status == status)
        if limit:
            q = q.limit(limit)
        return list(s.scalars(q))


def count_by_status(url: str, queue: str | None = None) -> dict[str, int]:
    with session_scope(url) as s:
        q = select(Job.status, func.count()).group_by(Job.status)
        if queue:
            q = q.where(Job.queue == queue)
        return {status: n for status, n in s.execute(q)}


def job_runs(url: str, job_id: int) -> list[Run]:
    with session_scope(url) as s:
        return list(s.scalars(select(Run).where(Run.job_id == job_id).order_by(Run.id)))


# -- worker side -----------------------------------------------------------------------------
def claim(
    url: str,
    job_id: int,
    task_id: str,
    host: str,
    gpu: str | None,
    stale_s: float,
    max_attempts: int,
) -> Claim:
    """Take a job for this message, or say why not (finished, cancelled, run by someone alive).

    A redelivery of the same message (the previous worker died) or a stale heartbeat lets the
    new worker take over; it then resumes the job's newest run.
    """
    with session_scope(url) as s:
        job = s.get(Job, job_id, with_for_update=True)
        if job is None:
            return Claim(False, "missing")
        if job.status in TERMINAL:
            return Claim(False, job.status, job)
        if (
            job.status == "running"
            and job.celery_task_id != task_id
            and not _is_stale(job, stale_s)
        ):
            return Claim(False, "busy", job)
        if job.attempts >= max_attempts:
            # one transaction, as cancel: nobody sees the job ended while its run still runs
            now = utcnow()
            job.status = "failed"
            job.finished_at = now
            job.error = (
                f"gave up after {job.attempts} attempts: the worker running this job was lost "
                f"each time (last on {job.worker_host or '?'}, GPU {job.worker_gpu or '?'})"
            )
            job.run_id = job.run_id or _latest_run_id(s, job_id)
            s.execute(
                update(Run)
                .where(Run.job_id == job_id, Run.status == "running")
                .values(status="failed", finished_at=now, error=job.error)
            )
            return Claim(False, "gave_up", job)
        now = utcnow()
        job.status = "running"
        job.attempts += 1
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.finished_at = None
        job.error = None
        job.worker_host = host
        job.worker_gpu = gpu
        job.celery_task_id = task_id
        run_id = _latest_run_id(s, job_id)
        return Claim(True, "resumed" if run_id else "claimed", job, run_id)


def heartbeat(
    url: str,
    job_id: int,
    task_id: str,
    progress_suite: str | None = None,
    progress_fraction: float | None = None,
) -> str:
    """Refresh the heartbeat (and progress) while we own the job.

    Returns ``ok``, or what happened instead: ``cancelled``, ``lost`` (another message owns it
    now), ``succeeded``/``failed`` or ``missing``.
    """
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    if progress_suite is not None:
        values["progress_suite"] = progress_suite[:64]
        values["progress_fraction"] = progress_fraction
    with session_scope(url) as s:
        updated = _rows_updated(
            s,
            update(Job)
            .where(Job.id == job_id, Job.status == "running", Job.celery_task_id == task_id)
            .values(**values),
        )
        if updated == 1:
            return "ok"
        job = s.get(Job, job_id)
        if job is None:
            return "missing"
        return job.status if job.status != "running" else "lost"


def finish(
    url: str,
    job_id: int,
    task_id: str,
    status: str,
    error: str | None = None,
    run_id: int | None = None,
) -> bool:
    """End a job we own; False (and no change) if it was cancelled or taken over meanwhile."""
    if status not in ("succeeded", "failed"):
        raise ValueError(f"a worker ends a job succeeded or failed, not {status!r}")
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error}
    if status == "succeeded":
        values["progress_fraction"] = 1.0
    with session_scope(url) as s:
        values["run_id"] = run_id if run_id is not None else _latest_run_id(s, job_id)
        updated = _rows_updated(
            s,
            update(Job)
            .where(Job.id == job_id, Job.status == "running", Job.celery_task_id == task_id)
            .values(**values),
        )
        return updated == 1


# -- user actions ----------------------------------------------------------------------------
def link_latest_run(url: str, job_id: int) -> int | None:
    """Point an ended job without a run id at its newest run (a run made after the job ended)."""
    with session_scope(url) as s:
        job = s.get(Job, job_id, with_for_update=True)
        if job is None:
            return None
        if job.run_id is None and job.status in TERMINAL:
            job.run_id = _latest_run_id(s, job_id)
        return job.run_id


def cancel(url: str, job_id: int) -> tuple[str, str | None]:
    """Mark a queued or running job cancelled (and its unfinished run failed, the job pointing
    at it).

    Returns (status before, broker task id) so the caller can revoke the message.
    """
    with session_scope(url) as s:
        job = s.get(Job, job_id, with_for_update=True)
        if job is None:
            raise InvalidInput(f"no job {job_id}; see `skipbench status` for the job ids")
        before = job.status
        if before in TERMINAL:
            return before, job.celery_task_id
        now = utcnow()
        job.status = "cancelled"
        job.finished_at = now
        job.error = f"cancelled by user while {before}"
        job.run_id = _latest_run_id(s, job_id)
        s.execute(
            update(Run)
            .where(Run.job_id == job_id, Run.status == "running")
            .values(status="failed", finished_at=now, error="cancelled by user")
        )
        return before, job.celery_task_id


def reset_for_retry(url: str, job_id: int, stale_s: float) -> Job:
    """Put a failed or cancelled job (or a stuck one) back to ``queued``; its run resumes."""
    with session_scope(url) as s:
        job = s.get(Job, job_id, with_for_update=True)
        if job is None:
            raise InvalidInput(f"no job {job_id}; see `skipbench status` for the job ids")
        if job.status == "succeeded":
            raise InvalidInput(
                f"job {job_id} already succeeded; to evaluate again use `skipbench submit --force`"
            )
        if job.status == "running" and not _is_stale(job, stale_s):
            raise InvalidInput(
                f"job {job_id} is running on {job.worker_host} (heartbeat fresh); cancel it first"
            )
        job.status = "queued"
        job.error = None
        job.started_at = None
        job.finished_at = None
        job.attempts = 0
        job.progress_suite = None
        job.progress_fraction = None
        job.worker_host = None
        job.worker_gpu = None
        return job


# -- reconciliation --------------------------------------------------------------------------
@dataclass
class ReconcilePlan:
    """Jobs to (re)send, and jobs given up on; the caller sends after the commit."""

    lost: list[int]  # queued in the store, absent from the broker
    stale: list[int]  # running with a stopped heartbeat
    gave_up: list[int]  # stale too often: failed instead
    to_send: list[tuple[int, str]]  # (job id, new task id)
    hard_limits: dict[int, float | None] = field(default_factory=dict)  # job id -> its hard limit


def plan_reconcile(
    url: str,
    queue: str,
    ids_in_broker: set[str],
    stale_s: float,
    grace_s: float,
    max_attempts: int,
    new_task_id: Any,
) -> ReconcilePlan:
    """Decide and record (row-locked, skipping rows others hold) which jobs go to the broker again."""
    plan = ReconcilePlan([], [], [], [])
    now = utcnow()
    recent = now - timedelta(seconds=grace_s)
    with session_scope(url) as s:
        q = (
            select(Job)
            .where(Job.queue == queue, Job.status.in_(("queued", "running")))
            .order_by(Job.id)
            .with_for_update(skip_locked=True)
        )
        for job in s.scalars(q):
            if job.status == "queued":
                if job.celery_task_id in ids_in_broker:
                    continue
                if job.enqueued_at is not None and job.enqueued_at > recent:
                    continue  # just sent: the message may not be visible yet
                plan.lost.append(job.id)
            else:
                if not _is_stale(job, stale_s, now):
                    continue
                if job.attempts >= max_attempts:
                    job.status = "failed"
                    job.finished_at = now
                    job.error = (
                        f"gave up after {job.attempts} attempts: heartbeat stopped each time "
                        f"(last on {job.worker_host or '?'}, GPU {job.worker_gpu or '?'})"
                    )
                    plan.gave_up.append(job.id)
                    continue
                plan.stale.append(job.id)
                job.status = "queued"
                job.error = f"requeued: heartbeat from {job.worker_host or '?'} stopped"
            task_id = str(new_task_id())
            job.celery_task_id = task_id
            job.enqueued_at = now
            plan.to_send.append((job.id, task_id))
            plan.hard_limits[job.id] = job.hard_time_limit_s
    return plan
