"""A process taken for lost must not write into a run that another process has resumed.

The race: run R's process stops answering, `runs reconcile` ends R failed, a second process
resumes R (R now records the second process), and then the first one wakes up and finishes its
suite. Before, it wrote its rows and its end into R, over the second process's running state.
Now every write of a run's results and end checks that R still records the writer's process.
Against SQLite and the real PostgreSQL.
"""

from __future__ import annotations

import pytest

from db.store import Store
from harness.models import ModelSpec
from harness.runner import RunSpec, SuiteSpec, execute
from harness.suites.base import MetricValue, SuiteOutcome
from harness.suites.zeroshot.suite import ZeroShotSuite
from skipbench.errors import RunTakenOver
from workers.store_retry import JobStore

OTHER = {"pid": 4_000_001, "host": "elsewhere", "start_ticks": 7, "boot_id": "b"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request):
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def one_suite(model_dir) -> RunSpec:
    return RunSpec(
        model=ModelSpec(source=str(model_dir), device="cpu"),
        method="dense",
        suites=(SuiteSpec("zeroshot", {"tasks": ["piqa"], "limit": 2}),),
    )


def _taken_over_during_the_suite(store: Store, monkeypatch) -> dict[str, int]:
    """Patch zero-shot so that, while it runs, another process resumes the run."""
    seen: dict[str, int] = {}

    def taken_over(self, lm, ctx):
        # this test's run: the newest (the session's PostgreSQL keeps other tests' runs)
        run = max(store.runs(status="running"), key=lambda r: r.id)
        store.update_run(run.id, provenance={**run.provenance, "process": OTHER})
        seen["run_id"] = run.id
        return SuiteOutcome(results=[MetricValue("piqa", "acc", 0.5, None, 2)])

    monkeypatch.setattr(ZeroShotSuite, "run", taken_over)
    return seen


@pytest.mark.parametrize("store_kind", ["plain", "job"])
def test_a_superseded_process_writes_nothing(
    url, store_kind, tiny_model_dir, shared_data_dir, monkeypatch
):
    store = Store(url)  # migrates the schema; the job store does not
    if store_kind == "job":
        store = JobStore(url, retry_s=0)
    before = {r.id for r in store.runs()}
    seen = _taken_over_during_the_suite(store, monkeypatch)
    with pytest.raises(RunTakenOver, match="pid 4000001|process 4000001"):
        execute(one_suite(tiny_model_dir), store)
    run = store.get_run(seen["run_id"])
    assert run.id not in before
    assert run.status == "running" and run.error is None and run.finished_at is None
    assert run.provenance["process"] == OTHER
    assert store.completed_suites(run.id) == set()  # the superseded process's rows are not there
    assert store.results([run.id]) == []


def test_the_recorded_process_still_writes(url, tiny_model_dir, shared_data_dir, monkeypatch):
    """Identity case: no takeover, the same writes land (the guard refuses only a stranger)."""
    store = Store(url)

    def cheap(self, lm, ctx):
        return SuiteOutcome(results=[MetricValue("piqa", "acc", 0.5, None, 2)])

    monkeypatch.setattr(ZeroShotSuite, "run", cheap)
    out = execute(one_suite(tiny_model_dir), store)
    run = store.get_run(out["run_id"])
    assert run.status == "succeeded"
    assert store.completed_suites(run.id) == {"zeroshot"}


def test_finish_run_checks_the_process(url):
    store = Store(url)
    mine = {"pid": 1, "host": "here", "start_ticks": 1, "boot_id": "a"}
    run_id = store.create_run(
        model_id="m", model_dtype="float32", method_name="dense", provenance={"process": mine}
    )
    with pytest.raises(RunTakenOver):
        store.finish_run(run_id, "succeeded", process=OTHER)
    assert store.get_run(run_id).status == "running"
    store.finish_run(run_id, "succeeded", process=mine)
    assert store.get_run(run_id).status == "succeeded"


def test_method_details_check_the_process(url):
    """A superseded process still inside its method's apply cannot overwrite method_details."""
    from harness.run_record import RecordedRun
    from skipbench.records import RunRecord

    store = Store(url)
    mine = {"pid": 1, "host": "here", "start_ticks": 1, "boot_id": "a"}
    record = RunRecord(
        model_id="m", model_dtype="float32", method_name="dense", provenance={"process": mine}
    )
    run = RecordedRun.open(record, store)
    run.set_method_details({"kept": "while it owns the run"})
    assert store.get_run(record.id).method_details == {"kept": "while it owns the run"}
    store.update_run(record.id, provenance={"process": OTHER})  # resumed elsewhere: no check
    with pytest.raises(RunTakenOver):
        run.set_method_details({"written": "after the takeover"})
    assert store.get_run(record.id).method_details == {"kept": "while it owns the run"}
    with pytest.raises(RunTakenOver):  # the store's own check, for any caller that names itself
        store.update_run(record.id, method_details={}, process=mine)
