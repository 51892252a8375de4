"""Writes and reads of runs and results.

Write rules that keep the store trustworthy:
- a run is created ``running`` and ends ``succeeded`` or ``failed`` (with its error);
- each suite's results (and artifacts) are written in one transaction, so a suite is either
  fully stored or not at all; a second write of the same suite is refused by the unique key;
- readers that want finished numbers filter on ``status == "succeeded"``.

A stored run has the columns of ``skipbench.records.RunRecord``; ``run_to_dict`` (re-exported
from there) serializes a stored run or an unstored record alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select

from db.engine import session_scope, upgrade
from db.models import Artifact, Result, Run, utcnow
from skipbench.errors import RunTakenOver
from skipbench.records import ResultRow, RunRecord, run_to_dict

__all__ = ["ResultRow", "RunTakenOver", "Store", "SuiteAlreadyStored", "run_to_dict"]


class SuiteAlreadyStored(RuntimeError):
    pass


def final_values(status: str, error: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    """The columns that end a run (``finish_run`` here and in ``workers.store_retry``)."""
    if status not in ("succeeded", "failed"):
        raise ValueError(f"final status must be succeeded or failed, not {status!r}")
    return {"status": status, "error": error, "finished_at": utcnow(), **fields}


def records_process(run: Run, process: dict[str, Any] | None) -> bool:
    """Whether ``run`` still records ``process`` as its own (always, for ``process=None``)."""
    return process is None or (run.provenance or {}).get("process") == process


def check_owner(run: Run, process: dict[str, Any] | None) -> None:
    """Refuse a write by ``process`` into ``run`` when the run records another process."""
    if process is None or records_process(run, process):
        return
    recorded = (run.provenance or {}).get("process")
    raise RunTakenOver(
        f"run {run.id} now belongs to process {(recorded or {}).get('pid')} on "
        f"{(recorded or {}).get('host')}; process {process.get('pid')} on "
        f"{process.get('host')} stops without writing into it"
    )


class Store:
    """The store behind one database URL; migrates the schema on first use."""

    def __init__(self, url: str, migrate: bool = True) -> None:
        self.url = url
        if migrate:
            upgrade(url)

    # -- runs -------------------------------------------------------------------------------
    def create_run(self, record: RunRecord | None = None, **fields: Any) -> int:
        """A new ``running`` run from ``record``'s columns and/or ``fields`` (``job_id``, ...)."""
        columns = {**(record.columns() if record is not None else {}), **fields}
        with session_scope(self.url) as s:
            run = Run(status="running", **columns)
            s.add(run)
            s.flush()
            return run.id

    def update_run(
        self, run_id: int, *, process: dict[str, Any] | None = None, **fields: Any
    ) -> None:
        """Set columns of a run; ``process``: only while the run still records it
        (``RunTakenOver``). Without it the write is unconditional: resuming a run uses that to
        record its new process."""
        self._set_columns(run_id, fields, process, lock=False)

    def finish_run(
        self,
        run_id: int,
        status: str,
        error: str | None = None,
        *,
        process: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """End the run; ``process``: only while the run still records it (``RunTakenOver``)."""
        self._set_columns(run_id, final_values(status, error, fields), process, lock=True)

    def _set_columns(
        self, run_id: int, values: dict[str, Any], process: dict[str, Any] | None, lock: bool
    ) -> None:
        """One transaction: read the run (``lock``: FOR UPDATE), check its owner, set columns."""
        with session_scope(self.url) as s:
            run = s.get(Run, run_id, with_for_update=lock)
            if run is None:
                raise KeyError(f"no run {run_id}")
            check_owner(run, process)
            for key, value in values.items():
                setattr(run, key, value)

    def close_run_failed(
        self, run_id: int, reason: str, *, process: dict[str, Any] | None = None
    ) -> bool:
        """End run ``run_id`` ``failed`` with ``reason`` if it is still ``running``; True if it
        was closed. ``process``: only while the run still records that process (a run resumed
        by another process in the meantime is left alone). For give-up paths and reconcile."""
        with session_scope(self.url) as s:
            run = s.get(Run, run_id, with_for_update=True)
            if run is None or run.status != "running":
                return False
            if not records_process(run, process):
                return False
            run.status, run.error, run.finished_at = "failed", reason, utcnow()
            return True

    def close_job_runs_failed(self, job_id: int, reason: str) -> list[int]:
        """End every ``running`` run of job ``job_id`` ``failed`` with ``reason``; their ids."""
        with session_scope(self.url) as s:
            q = select(Run).where(Run.job_id == job_id, Run.status == "running").with_for_update()
            runs = list(s.scalars(q))
            for run in runs:
                run.status, run.error, run.finished_at = "failed", reason, utcnow()
            return [run.id for run in runs]

    def get_run(self, run_id: int) -> Run | None:
        with session_scope(self.url) as s:
            return s.get(Run, run_id)

    def add_suite_results(
        self,
        run_id: int,
        suite: str,
        rows: Sequence[ResultRow | dict[str, Any]],
        artifacts: dict[str, Any] | None = None,
        data_files: dict[str, str] | None = None,
        *,
        process: dict[str, Any] | None = None,
    ) -> None:
        """Store one suite's results and artifacts atomically (all or nothing); ``process``:
        only while the run still records it (``RunTakenOver``)."""
        with session_scope(self.url) as s:
            run = s.get(Run, run_id, with_for_update=True)
            if run is None:
                raise KeyError(f"no run {run_id}")
            check_owner(run, process)
            already = s.scalar(
                select(Result.id).where(Result.run_id == run_id, Result.suite == suite).limit(1)
            )
            if already is not None:
                raise SuiteAlreadyStored(f"run {run_id} already has results for suite {suite!r}")
            for item in rows:
                row = item if isinstance(item, ResultRow) else ResultRow(**item)
                if row.suite != suite:
                    raise ValueError(f"result for suite {row.suite!r} handed to suite {suite!r}")
                s.add(Result(run_id=run_id, **row.__dict__))
            for name, payload in (artifacts or {}).items():
                s.add(Artifact(run_id=run_id, suite=suite, name=name, payload=payload))
            if data_files:
                run.data_files = {**(run.data_files or {}), **data_files}

    def add_artifact(self, run_id: int, suite: str, name: str, payload: Any) -> None:
        with session_scope(self.url) as s:
            s.add(Artifact(run_id=run_id, suite=suite, name=name, payload=payload))

    def completed_suites(self, run_id: int) -> set[str]:
        with session_scope(self.url) as s:
            return set(s.scalars(select(Result.suite).where(Result.run_id == run_id).distinct()))

    # -- reads ------------------------------------------------------------------------------
    def runs(
        self,
        model: str | None = None,
        method: str | None = None,
        status: str | None = None,
        ids: Iterable[int] | None = None,
    ) -> list[Run]:
        with session_scope(self.url) as s:
            q = select(Run).order_by(Run.id)
            if model:
                q = q.where(Run.model_id == model)
            if method:
                q = q.where(Run.method_name == method)
            if status:
                q = q.where(Run.status == status)
            if ids is not None:
                q = q.where(Run.id.in_(list(ids)))
            return list(s.scalars(q))

    def results(self, run_ids: Iterable[int]) -> list[Result]:
        with session_scope(self.url) as s:
            q = (
                select(Result)
                .where(Result.run_id.in_(list(run_ids)))
                .order_by(Result.run_id, Result.id)
            )
            return list(s.scalars(q))

    def artifacts(self, run_id: int) -> list[Artifact]:
        with session_scope(self.url) as s:
            return list(
                s.scalars(select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.id))
            )
