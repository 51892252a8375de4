"""The runner's store guarantees: failed runs, resume at the first suite not yet stored."""

import pytest

from db.store import Store
from harness.models import ModelSpec
from harness.runner import RunSpec, SuiteSpec, execute
from harness.suites.perplexity.suite import PerplexitySuite


@pytest.fixture
def spec(tiny_model_dir):
    return RunSpec(
        model=ModelSpec(source=str(tiny_model_dir), device="cpu"),
        suites=(SuiteSpec("perplexity", {"tasks": ["wikitext2"], "limit": 1, "seq_len": 32}),),
    )


def test_failure_is_stored_then_resume_completes(spec, sqlite_url, shared_data_dir, monkeypatch):
    store = Store(sqlite_url)
    original = PerplexitySuite.run

    def explode(self, lm, ctx):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(PerplexitySuite, "run", explode)
    with pytest.raises(RuntimeError):
        execute(spec, store)
    (run,) = store.runs()
    assert run.status == "failed" and run.error == "RuntimeError: disk on fire"
    assert store.results([run.id]) == []

    monkeypatch.setattr(PerplexitySuite, "run", original)
    record = execute(RunSpec.from_dict(run.provenance["spec"]), store, resume_run_id=run.id)
    assert record["run_id"] == run.id and record["status"] == "succeeded"
    assert {r["metric"] for r in record["results"]} == {"perplexity", "nll"}
    assert len(store.runs()) == 1


def test_resume_skips_suites_already_stored(spec, sqlite_url, shared_data_dir, monkeypatch):
    store = Store(sqlite_url)
    first = execute(spec, store)
    store.update_run(first["run_id"], status="failed", error="worker lost")

    def must_not_run(self, lm, ctx):
        raise AssertionError("a stored suite ran again")

    monkeypatch.setattr(PerplexitySuite, "run", must_not_run)
    record = execute(spec, store, resume_run_id=first["run_id"])
    assert record["status"] == "succeeded"
    assert sorted(r["value"] for r in record["results"]) == sorted(
        r["value"] for r in first["results"]
    )


def test_spec_roundtrip_and_key(spec):
    again = RunSpec.from_dict(spec.to_dict())
    assert again == spec and again.key() == spec.key()
    other = RunSpec.from_dict({**spec.to_dict(), "seed": 1})
    assert other.key() != spec.key()


def test_quality_suites_refuse_random_weights(spec, sqlite_url, monkeypatch):
    from harness import runner
    from skipbench.errors import InvalidInput

    real_load = runner.load_model

    def fake_random(model_spec):
        lm = real_load(model_spec)
        lm.info["random_weights"] = True
        return lm

    monkeypatch.setattr(runner, "load_model", fake_random)
    with pytest.raises(
        InvalidInput, match="has random weights; suite\\(s\\) perplexity measure quality"
    ):
        execute(spec, Store(sqlite_url))
    assert Store(sqlite_url).runs() == []


def _shape(value):
    """The keys of every nested dict (lists by their first element): the JSON shape."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return None


def test_run_without_a_store_has_the_stored_json_contract(spec, sqlite_url, shared_data_dir):
    stored = execute(spec, Store(sqlite_url))
    memory = execute(spec, None)
    assert _shape(memory) == _shape(stored)
    assert memory["run_id"] is None and stored["run_id"] == 1
    assert memory["status"] == stored["status"] == "succeeded" and memory["error"] is None
    assert memory["created_at"] and memory["finished_at"]
    for part in ("model", "sparsity", "suites", "seed"):
        assert memory[part] == stored[part]
    assert memory["method"]["config"] == stored["method"]["config"]
    key = lambda r: (r["suite"], r["task"], r["metric"])  # noqa: E731
    assert [key(r) for r in memory["results"]] == [key(r) for r in stored["results"]]
    for mine, theirs in zip(memory["results"], stored["results"]):
        assert mine["value"] == pytest.approx(theirs["value"], rel=1e-9)
        assert {k: v for k, v in mine.items() if k != "value"} == {
            k: v for k, v in theirs.items() if k != "value"
        }
    assert memory["provenance"]["spec_key"] == spec.key()
    assert memory["provenance"]["data_files"] == stored["provenance"]["data_files"] != {}
