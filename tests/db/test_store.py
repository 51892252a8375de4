"""The store on SQLite and on the real PostgreSQL server (fresh database per session)."""

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from db.engine import get_engine
from db.store import ResultRow, Store, SuiteAlreadyStored, run_to_dict


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, sqlite_url):
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    return Store(url)


def _run(store: Store, **overrides) -> int:
    fields = dict(model_id="tiny", model_dtype="float32", method_name="dense", sparsity=0.0)
    fields.update(overrides)
    return store.create_run(**fields)


def test_schema_is_migrated(store):
    tables = set(inspect(get_engine(store.url)).get_table_names())
    assert {"runs", "results", "artifacts", "jobs", "alembic_version"} <= tables


def test_roundtrip_and_json_contract(store):
    rid = _run(
        store,
        method_name="shortgpt",
        method_config={"sparsity": 0.2},
        method_details={"removed_layers": [5, 3]},
    )
    rows = [
        ResultRow("perplexity", "wikitext2", "perplexity", 21.5, higher_is_better=False, n=8),
        ResultRow(
            "perplexity",
            "wikitext2",
            "nll",
            3.07,
            higher_is_better=False,
            stderr=0.01,
            n=8,
            unit="nats/token",
        ),
    ]
    store.add_suite_results(
        rid, "perplexity", rows, artifacts={"suite_info": {"w": 8}}, data_files={"a.jsonl": "ff"}
    )
    store.finish_run(rid, "succeeded")
    run = store.get_run(rid)
    record = run_to_dict(run, store.results([rid]))
    assert record["status"] == "succeeded"
    assert record["method"] == {
        "name": "shortgpt",
        "config": {"sparsity": 0.2},
        "details": {"removed_layers": [5, 3]},
    }
    assert [(r["metric"], r["value"], r["higher_is_better"]) for r in record["results"]] == [
        ("perplexity", 21.5, False),
        ("nll", 3.07, False),
    ]
    assert record["provenance"]["data_files"] == {"a.jsonl": "ff"}
    assert [a.name for a in store.artifacts(rid)] == ["suite_info"]


def test_suite_written_once_and_atomically(store):
    rid = _run(store)
    good = ResultRow("perplexity", "wikitext2", "perplexity", 1.0, higher_is_better=False)
    # a batch with a duplicate key fails as a whole: nothing of it is stored
    with pytest.raises(IntegrityError):
        store.add_suite_results(rid, "perplexity", [good, good])
    assert store.results([rid]) == []
    store.add_suite_results(rid, "perplexity", [good])
    with pytest.raises(SuiteAlreadyStored):
        store.add_suite_results(rid, "perplexity", [good])
    assert len(store.results([rid])) == 1
    assert store.completed_suites(rid) == {"perplexity"}


def test_failed_run_keeps_error_and_filters(store):
    ok, bad = _run(store), _run(store, method_name="shortgpt")
    store.finish_run(ok, "succeeded")
    store.finish_run(bad, "failed", error="RuntimeError: boom")
    succeeded = [r.id for r in store.runs(status="succeeded", ids=[ok, bad])]
    assert succeeded == [ok]
    failed = store.get_run(bad)
    assert failed.status == "failed" and failed.error == "RuntimeError: boom" and failed.finished_at
    with pytest.raises(ValueError, match="final status"):
        store.finish_run(ok, "running")


def test_a_record_serializes_like_its_stored_run(store):
    """``run_to_dict`` gives an unstored RunRecord and the run stored from it the same shape."""
    from skipbench.records import RunRecord

    record = RunRecord(
        model_id="tiny",
        model_dtype="float32",
        method_name="shortgpt",
        model_params=123,
        model_info={"num_layers": 4},
        method_config={"sparsity": 0.25},
        sparsity=0.25,
        suites={"perplexity": {"limit": 2}},
        seed=3,
        device="cpu",
        provenance={"skipbench": "x"},
    )
    rid = store.create_run(record)
    rows = [ResultRow("perplexity", "c4", "perplexity", 9.5, higher_is_better=False, n=2)]
    store.add_suite_results(rid, "perplexity", rows, data_files={"c4.jsonl": "ab"})
    store.update_run(rid, method_details={"removed_layers": [2]})
    store.finish_run(rid, "succeeded")
    record.data_files.update({"c4.jsonl": "ab"})
    record.method_details = {"removed_layers": [2]}
    record.id, record.status = rid, "succeeded"

    stored = run_to_dict(store.get_run(rid), store.results([rid]))
    unstored = run_to_dict(record, rows)
    lifecycle = ("created_at", "finished_at")
    assert stored["created_at"] and stored["finished_at"] and unstored["created_at"] is None
    assert {k: v for k, v in stored.items() if k not in lifecycle} == {
        k: v for k, v in unstored.items() if k not in lifecycle
    }
    assert stored["model"] == {
        "id": "tiny",
        "revision": None,
        "hash": None,
        "dtype": "float32",
        "params": 123,
        "random_weights": False,
        "num_layers": 4,
    }
