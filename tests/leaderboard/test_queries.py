"""db.queries: read-only helpers on SQLite and PostgreSQL, and a store that does not exist."""

from __future__ import annotations

from db import queries
from db.engine import get_engine


def _check(url: str, runs: dict[str, int]) -> None:
    from db.store import Store

    engine = get_engine(url)
    store = Store(url, migrate=False)
    assert queries.has_schema(engine)
    every = queries.runs(engine)
    assert [r["id"] for r in every] == [r.id for r in store.runs()]
    ok = queries.runs(engine, statuses=["succeeded"])
    assert {r["id"] for r in ok} == {r.id for r in store.runs(status="succeeded")}
    failed = runs["gemma/sleb/0.3/failed"]
    stored = store.results([failed])
    assert len(stored) > 0  # the failed run kept the suite it finished
    only_ok = queries.results(engine, statuses=["succeeded"])
    assert failed not in {r["run_id"] for r in only_ok}
    mine = queries.results(engine, run_ids=[failed])
    assert [(r["task"], r["metric"], r["value"]) for r in mine] == [
        (r.task, r.metric, r.value) for r in stored
    ]
    dense = runs["smollm2-135m-instruct/dense/0.0"]
    assert [(a["suite"], a["name"]) for a in queries.artifacts(engine, dense)] == [
        ("zeroshot", "samples")
    ]
    sink = queries.artifacts(engine, runs["smol/analysis/sink"])
    assert [(a["suite"], a["name"]) for a in sink] == [("analysis", "sink")]
    assert sink[0]["payload"]["sink_change"][0] is None
    assert len(queries.jobs(engine)) == 7


def test_queries_on_sqlite(demo_store):
    _check(*demo_store)


def test_queries_on_postgresql(pg_demo_store):
    _check(*pg_demo_store)


def test_missing_sqlite_store_is_not_created(tmp_path):
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    assert queries.sqlite_file_missing(url)
    assert not (tmp_path / "absent.db").exists()
    assert not queries.sqlite_file_missing("postgresql+psycopg://u@h/db")
    assert not queries.sqlite_file_missing("sqlite://")


def test_unmigrated_database_has_no_schema(tmp_path):
    import sqlite3

    path = tmp_path / "blank.db"
    sqlite3.connect(path).close()
    assert not queries.has_schema(get_engine(f"sqlite:///{path}"))


def test_reads_do_not_change_the_store(demo_store):
    import hashlib
    from pathlib import Path

    url, _ = demo_store
    get_engine(url).dispose()
    path = Path(url.split("///", 1)[1])
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    engine = get_engine(url)
    (
        queries.runs(engine),
        queries.results(engine),
        queries.jobs(engine),
        queries.artifact_names(engine),
    )
    engine.dispose()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
