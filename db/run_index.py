"""Find stored runs and jobs by evaluation identity (``RunSpec.key()``).

Every run ``harness.runner.execute`` stores carries its spec's key in ``provenance.spec_key``
(in-process runs, worker runs and imported runs alike); jobs carry it in ``jobs.key``. A sweep
asks, per key, what is already there: a succeeded run (done), an active job, a failed attempt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from db.engine import session_scope
from db.models import Job, Run

ACTIVE_JOB = ("queued", "running")


def spec_key_column() -> Any:
    """``provenance ->> 'spec_key'`` on PostgreSQL, ``json_extract`` on SQLite."""
    return Run.provenance["spec_key"].as_string()


@dataclass(frozen=True)
class StoredRun:
    id: int
    status: str
    error: str | None
    job_id: int | None


@dataclass(frozen=True)
class StoredJob:
    id: int
    status: str
    error: str | None
    run_id: int | None


@dataclass(frozen=True)
class KeyState:
    """What the store holds for one key: its runs (oldest first) and its newest job."""

    runs: tuple[StoredRun, ...] = ()
    job: StoredJob | None = None

    @property
    def succeeded(self) -> StoredRun | None:
        done = [r for r in self.runs if r.status == "succeeded"]
        return done[-1] if done else None

    @property
    def state(self) -> str:
        """done, queued, running, failed or pending (nothing stored)."""
        if self.succeeded is not None:
            return "done"
        if self.job is not None and self.job.status in ACTIVE_JOB:
            return self.job.status
        if any(r.status == "running" for r in self.runs):
            return "running"
        if self.runs or self.job is not None:
            return "failed"
        return "pending"

    @property
    def error(self) -> str | None:
        for item in (self.job, *reversed(self.runs)):
            if item is not None and item.error:
                return item.error.splitlines()[0]
        return None

    def resumable(self) -> StoredRun | None:
        """The newest unfinished run no active job owns (a failed or interrupted attempt)."""
        active_job = self.job is not None and self.job.status in ACTIVE_JOB
        if self.succeeded is not None or active_job:
            return None
        for run in reversed(self.runs):
            if run.status != "succeeded":
                return run
        return None


def key_states(url: str, keys: Iterable[str]) -> dict[str, KeyState]:
    """One ``KeyState`` per key (``pending`` for keys nothing is stored for)."""
    wanted = list(dict.fromkeys(keys))
    runs: dict[str, list[StoredRun]] = {k: [] for k in wanted}
    jobs: dict[str, StoredJob] = {}
    key_col = spec_key_column()
    with session_scope(url) as s:
        for chunk in _chunks(wanted, 500):
            q = (
                select(key_col, Run.id, Run.status, Run.error, Run.job_id)
                .where(key_col.in_(chunk))
                .order_by(Run.id)
            )
            for key, rid, status, error, job_id in s.execute(q):
                runs[key].append(StoredRun(rid, status, error, job_id))
            jq = (
                select(Job.key, Job.id, Job.status, Job.error, Job.run_id)
                .where(Job.key.in_(chunk))
                .order_by(Job.generation)
            )
            for key, jid, status, error, run_id in s.execute(jq):
                jobs[key] = StoredJob(jid, status, error, run_id)  # newest generation wins
    return {k: KeyState(tuple(runs[k]), jobs.get(k)) for k in wanted}


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
