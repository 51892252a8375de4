"""Read-only queries for the leaderboard: plain dicts out, no writes, no migrations.

The leaderboard must never change the store, so these helpers only ``SELECT`` on a connection
that is rolled back when it closes. A store that does not exist yet (no SQLite file, or a
database without our tables) reads as empty instead of being created.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, select
from sqlalchemy.engine import make_url

from db.models import Artifact, Job, Result, Run

_RUN_COLUMNS = (
    "id", "status", "created_at", "finished_at", "error", "model_id", "model_revision",
    "model_hash", "model_dtype", "model_params", "random_weights", "model_info", "method_name",
    "method_config", "method_details", "sparsity", "suites", "seed", "device", "provenance",
    "data_files", "job_id",
)  # fmt: skip
_RESULT_COLUMNS = (
    "run_id", "suite", "task", "metric", "value", "stderr", "n", "unit", "higher_is_better",
    "display_name",
)  # fmt: skip
JOB_COLUMNS = (
    "id", "key", "generation", "status", "spec", "queue", "created_at", "started_at",
    "finished_at", "heartbeat_at", "worker_host", "worker_gpu", "progress_suite",
    "progress_fraction", "attempts", "error", "run_id",
)  # fmt: skip


def sqlite_file_missing(url: str) -> bool:
    """True for a SQLite URL whose file does not exist (connecting would create it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return False
    return not Path(database).exists()


def has_schema(engine: Engine) -> bool:
    """Whether the store has been created (the runs table exists)."""
    return bool(inspect(engine).has_table(Run.__tablename__))


def _rows(engine: Engine, query: Any, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    with engine.connect() as conn:  # closes with a rollback: nothing is ever committed
        return [dict(zip(columns, row)) for row in conn.execute(query)]


def runs(engine: Engine, statuses: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every run (optionally only some statuses), oldest first."""
    table = Run.__table__
    query = select(*(table.c[c] for c in _RUN_COLUMNS)).order_by(table.c.id)
    if statuses is not None:
        query = query.where(table.c.status.in_(list(statuses)))
    return _rows(engine, query, _RUN_COLUMNS)


def results(
    engine: Engine, run_ids: Iterable[int] | None = None, statuses: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """Result rows, optionally limited to some runs and/or to runs in some statuses."""
    table = Result.__table__
    query = select(*(table.c[c] for c in _RESULT_COLUMNS)).order_by(table.c.run_id, table.c.id)
    if run_ids is not None:
        query = query.where(table.c.run_id.in_(list(run_ids)))
    if statuses is not None:
        runs_table = Run.__table__
        query = query.join(runs_table, runs_table.c.id == table.c.run_id).where(
            runs_table.c.status.in_(list(statuses))
        )
    return _rows(engine, query, _RESULT_COLUMNS)


def artifacts(engine: Engine, run_id: int) -> list[dict[str, Any]]:
    """A run's JSON artifacts (suite, name, payload) in the order they were stored."""
    table = Artifact.__table__
    query = (
        select(table.c.suite, table.c.name, table.c.payload)
        .where(table.c.run_id == run_id)
        .order_by(table.c.id)
    )
    return _rows(engine, query, ("suite", "name", "payload"))


def artifact_names(engine: Engine) -> list[dict[str, Any]]:
    """(run_id, suite, name) of every artifact, without payloads (they can be large)."""
    table = Artifact.__table__
    query = select(table.c.run_id, table.c.suite, table.c.name).order_by(table.c.id)
    return _rows(engine, query, ("run_id", "suite", "name"))


def jobs(engine: Engine) -> list[dict[str, Any]]:
    """Every job, newest first."""
    table = Job.__table__
    query = select(*(table.c[c] for c in JOB_COLUMNS)).order_by(table.c.id.desc())
    return _rows(engine, query, JOB_COLUMNS)
