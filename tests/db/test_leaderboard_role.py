"""The leaderboard connects with its own URL; on PostgreSQL its role (made by the same SQL that
docker compose runs) reads the store and cannot write it (issue 13, defect 12)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from db.store import Store

ROLE_SQL = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "leaderboard_role.sql"


@pytest.fixture
def read_only_url(pg_url):
    if shutil.which("psql") is None:
        pytest.skip("psql (the PostgreSQL client) is not installed")
    Store(pg_url)  # the tables exist before the role is made, as after `migrate`
    parsed = make_url(pg_url)
    role = f"skipbench_lb_{uuid.uuid4().hex[:8]}"
    plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    out = subprocess.run(
        ["psql", "-v", "ON_ERROR_STOP=1", "-d", plain,
         "-v", f"ro_user={role}", "-v", "ro_password=lb-secret",
         "-v", f"owner={parsed.username}", "-v", f"db={parsed.database}",
         "-f", str(ROLE_SQL)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    yield parsed.set(username=role, password="lb-secret").render_as_string(hide_password=False)
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))
    admin.dispose()


_WRITES = (
    "INSERT INTO jobs (key, generation, status, spec, queue, created_at, attempts) "
    "VALUES ('x', 0, 'queued', '{}', 'q', now(), 0)",
    "UPDATE runs SET status = 'failed'",
    "DELETE FROM results",
    "CREATE TABLE leaderboard_was_here (id int)",
)


def test_leaderboard_role_reads_but_cannot_write(pg_url, read_only_url, monkeypatch):
    from db import queries
    from leaderboard import access
    from skipbench.settings import reset_settings_cache

    store = Store(pg_url)
    run_id = store.create_run(model_id="tiny", model_dtype="float32", method_name="dense")
    monkeypatch.setenv("SKIPBENCH_DATABASE_URL", pg_url)
    monkeypatch.setenv("SKIPBENCH_LEADERBOARD_DATABASE_URL", read_only_url)
    reset_settings_cache()
    url = access.database_url()
    assert url == read_only_url
    engine = access.engine(url)
    assert run_id in [r["id"] for r in queries.runs(engine)]  # the session's database is shared
    assert queries.has_schema(engine)

    for statement in _WRITES:
        with engine.connect() as conn:
            # even a session that asks for writes is refused by the role's grants
            conn.execute(text("SET TRANSACTION READ WRITE"))
            with pytest.raises(DBAPIError) as info:
                conn.execute(text(statement))
            assert "permission denied" in str(info.value.orig), statement
    statuses = {r.id: r.status for r in store.runs()}
    assert statuses[run_id] == "running"  # the refused UPDATE changed nothing

    # the same statements through the leaderboard's engine on the full-privilege URL are still
    # refused: its sessions are read-only
    full = access.engine(pg_url)
    with full.connect() as conn, pytest.raises(DBAPIError, match="read-only transaction"):
        conn.execute(text(_WRITES[1]))


def test_leaderboard_url_falls_back_to_the_store(monkeypatch, sqlite_url):
    from leaderboard import access
    from skipbench.settings import reset_settings_cache

    monkeypatch.setenv("SKIPBENCH_DATABASE_URL", sqlite_url)
    reset_settings_cache()
    assert access.database_url() == sqlite_url
    Store(sqlite_url)
    with access.engine(sqlite_url).connect() as conn, pytest.raises(DBAPIError, match="readonly"):
        conn.execute(text("DELETE FROM runs"))
