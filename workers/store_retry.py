"""The store as a job's worker sees it: short outages are waited out, not charged to the job.

A database that blinks while a job writes would otherwise fail the write, and with it one of
the job's attempts; its recovery then waits for a stale heartbeat and a reconcile. Writes
here are retried with backoff for ``store_retry_s``; only then does the worker give the
attempt up (the message is requeued and the next delivery resumes the stored run).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import update

from db.engine import session_scope
from db.models import Run
from db.store import Store, SuiteAlreadyStored, check_owner, final_values

log = logging.getLogger("skipbench.worker")
T = TypeVar("T")


class StoreUnreachable(RuntimeError):
    """The store did not answer (after retries): the job was not run, or not recorded, here."""


def is_unreachable(exc: BaseException) -> bool:
    """A connection-level database error (server down, connection dropped, file locked)."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(exc, StoreUnreachable | OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def with_retries(fn: Callable[[], T], what: str, budget_s: float, first_delay_s: float = 0.5) -> T:
    """``fn()``, retried with exponential backoff while the store is unreachable."""
    deadline = time.monotonic() + max(0.0, budget_s)
    delay = first_delay_s
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_unreachable(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning(
                "%s: store unreachable (%s); retrying in %.1f s", what, type(exc).__name__, delay
            )
            time.sleep(delay)
            delay = min(delay * 2, 8.0)


class JobStore(Store):
    """``Store`` for a job's run: every write is retried across outages, and a run that was
    already ended (cancelled with its job) keeps its verdict and error."""

    def __init__(self, url: str, retry_s: float) -> None:
        super().__init__(url, migrate=False)
        self.retry_s = retry_s

    def _retry(self, what: str, fn: Callable[[], T]) -> T:
        return with_retries(fn, what, self.retry_s)

    def update_run(
        self, run_id: int, *, process: dict[str, Any] | None = None, **fields: Any
    ) -> None:
        self._retry(
            f"run {run_id}: update",
            lambda: Store.update_run(self, run_id, process=process, **fields),
        )

    def finish_run(
        self,
        run_id: int,
        status: str,
        error: str | None = None,
        *,
        process: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        values = final_values(status, error, fields)

        def write() -> None:
            with session_scope(self.url) as s:
                run = s.get(Run, run_id)
                if run is not None and run.status == "running":
                    check_owner(run, process)
            # one statement, as SQLite wants (no read lock held while it waits to write); a run
            # that ended meanwhile (cancelled, given up) keeps that end
            with session_scope(self.url) as s:
                s.execute(
                    update(Run).where(Run.id == run_id, Run.status == "running").values(**values)
                )

        self._retry(f"run {run_id}: finish", write)

    def add_suite_results(
        self,
        run_id: int,
        suite: str,
        rows: Any,
        artifacts: dict[str, Any] | None = None,
        data_files: dict[str, str] | None = None,
        *,
        process: dict[str, Any] | None = None,
    ) -> None:
        tried = False

        def write() -> None:
            nonlocal tried
            try:
                Store.add_suite_results(
                    self, run_id, suite, rows, artifacts, data_files, process=process
                )
            except SuiteAlreadyStored:
                if tried:  # our own earlier try committed; only its answer was lost
                    return
                raise
            finally:
                tried = True

        self._retry(f"run {run_id}: {suite} results", write)

    def completed_suites(self, run_id: int) -> set[str]:
        return self._retry(f"run {run_id}: read", lambda: Store.completed_suites(self, run_id))

    def get_run(self, run_id: int) -> Run | None:
        return self._retry(f"run {run_id}: read", lambda: Store.get_run(self, run_id))

    def results(self, run_ids: Any) -> list[Any]:
        ids = list(run_ids)
        return self._retry("results: read", lambda: Store.results(self, ids))
