"""Resuming refuses when the model, the method config or the data changed (issue 13, defect 2).

The scenario of the issue: a run stored perplexity, then failed (killed) in the next suite; the
weights (or a data file, or the method config) were replaced; resuming must refuse with one
line naming what changed, leave the stored run as it was (failed, resumable), and resume once
the original is back. Against SQLite and the real PostgreSQL.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from db.store import Store
from harness.models import ModelSpec
from harness.runner import RunSpec, SuiteSpec, execute
from harness.suites.zeroshot.suite import ZeroShotSuite
from skipbench.errors import InvalidInput


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request):
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return Store(url)


@pytest.fixture
def data_copy(tmp_path, shared_data_dir, monkeypatch):
    """A private copy of the data files these runs read, so a test may change them."""
    from skipbench.settings import reset_settings_cache

    root = tmp_path / "shared"
    for rel in ("wikitext2/test.jsonl", "c4/validation_2k.jsonl"):
        (root / "data" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data_dir / rel, root / "data" / rel)
    monkeypatch.setenv("SKIPBENCH_SHARED_DIR", str(root))
    reset_settings_cache()
    return root / "data"


def two_suites(model_dir, method="dense", **method_params) -> RunSpec:
    return RunSpec(
        model=ModelSpec(source=str(model_dir), device="cpu"),
        method=method,
        method_params=method_params,
        suites=(
            SuiteSpec("perplexity", {"tasks": ["wikitext2"], "limit": 1, "seq_len": 32}),
            SuiteSpec("zeroshot", {"tasks": ["piqa"], "limit": 2}),
        ),
    )


def killed_after_perplexity(spec: RunSpec, store: Store, monkeypatch) -> int:
    """Run ``spec``: perplexity is stored, zero-shot fails; the run is left ``failed``."""

    def killed(self, lm, ctx):
        raise RuntimeError("killed")

    with monkeypatch.context() as m:
        m.setattr(ZeroShotSuite, "run", killed)
        with pytest.raises(RuntimeError, match="killed"):
            execute(spec, store)
    (run,) = [r for r in store.runs() if (r.provenance or {}).get("spec_key") == spec.key()]
    assert run.status == "failed" and store.completed_suites(run.id) == {"perplexity"}
    return run.id


def resume(store: Store, run_id: int, monkeypatch) -> dict:
    """Resume ``run_id`` from its stored spec; zero-shot is replaced by a cheap stand-in."""
    from harness.suites.base import MetricValue, SuiteOutcome

    def cheap(self, lm, ctx):
        return SuiteOutcome(results=[MetricValue("piqa", "acc", 0.5, None, 2)])

    monkeypatch.setattr(ZeroShotSuite, "run", cheap)
    spec = RunSpec.from_dict(store.get_run(run_id).provenance["spec"])
    return execute(spec, store, resume_run_id=run_id)


def assert_untouched(store: Store, run_id: int) -> None:
    run = store.get_run(run_id)
    assert run.status == "failed" and run.error == "RuntimeError: killed"
    assert store.completed_suites(run_id) == {"perplexity"}


def test_replaced_weights_are_refused_then_restored_weights_resume(
    store, tiny_model_dir, data_copy, monkeypatch
):
    from tests.tiny import save_tiny_model_dir

    spec = two_suites(tiny_model_dir)
    run_id = killed_after_perplexity(spec, store, monkeypatch)
    recorded = store.get_run(run_id).model_hash
    original = tiny_model_dir.parent / "original"
    shutil.copytree(tiny_model_dir, original)
    save_tiny_model_dir(tiny_model_dir, seed=1)  # other weights, same folder

    with pytest.raises(InvalidInput) as refused:
        resume(store, run_id, monkeypatch)
    message = str(refused.value)
    assert "\n" not in message
    assert f"run {run_id} cannot be resumed: the weights of" in message
    assert f"sha256 {recorded[:12]}… recorded" in message
    assert_untouched(store, run_id)

    shutil.rmtree(tiny_model_dir)
    shutil.copytree(original, tiny_model_dir)
    record = resume(store, run_id, monkeypatch)
    assert record["status"] == "succeeded" and record["model"]["hash"] == recorded
    assert {r["suite"] for r in record["results"]} == {"perplexity", "zeroshot"}


def test_a_changed_data_file_is_refused(store, tiny_model_dir, data_copy, monkeypatch):
    run_id = killed_after_perplexity(two_suites(tiny_model_dir), store, monkeypatch)
    assert "wikitext2/test.jsonl" in store.get_run(run_id).data_files
    wikitext = data_copy / "wikitext2" / "test.jsonl"
    with open(wikitext, "a") as f:
        f.write(json.dumps({"text": "one more row"}) + "\n")
    with pytest.raises(InvalidInput, match="data file wikitext2/test.jsonl changed"):
        resume(store, run_id, monkeypatch)
    assert_untouched(store, run_id)
    os.remove(wikitext)
    with pytest.raises(InvalidInput, match="data file wikitext2/test.jsonl .* is missing here"):
        resume(store, run_id, monkeypatch)
    assert_untouched(store, run_id)


def test_changed_calibration_data_is_refused(store, tiny_model_dir, data_copy, monkeypatch):
    spec = two_suites(tiny_model_dir, "shortgpt", num_layers=1, calib_samples=2, calib_seq_len=16)
    run_id = killed_after_perplexity(spec, store, monkeypatch)
    calibration = store.get_run(run_id).method_details["calibration"]
    assert "c4/validation_2k.jsonl" in calibration["files"]
    with open(data_copy / "c4" / "validation_2k.jsonl", "a") as f:
        f.write(json.dumps({"text": "a calibration document more"}) + "\n")
    with pytest.raises(InvalidInput, match="data file c4/validation_2k.jsonl changed"):
        resume(store, run_id, monkeypatch)
    assert_untouched(store, run_id)


def test_a_changed_method_config_is_refused(store, tiny_model_dir, data_copy, monkeypatch):
    first = two_suites(tiny_model_dir, "shortgpt", num_layers=1, calib_samples=2, calib_seq_len=16)
    run_id = killed_after_perplexity(first, store, monkeypatch)
    other = two_suites(tiny_model_dir, "shortgpt", num_layers=2, calib_samples=2, calib_seq_len=16)
    # a worker resumes with its job's spec, not the run's: the config must still match
    with pytest.raises(
        InvalidInput, match="the shortgpt config changed \\(num_layers=1 recorded, 2 now\\)"
    ):
        execute(other, store, resume_run_id=run_id)
    assert_untouched(store, run_id)


def test_a_run_still_running_here_is_not_resumed(store, tiny_model_dir, data_copy, monkeypatch):
    from harness import process_identity

    run_id = killed_after_perplexity(two_suites(tiny_model_dir), store, monkeypatch)
    parent = os.getppid()  # a live process that is not this one
    alive = {**process_identity.this_process(), "pid": parent}
    alive["start_ticks"] = process_identity.start_ticks(parent)
    run = store.get_run(run_id)
    store.update_run(run_id, status="running", provenance={**run.provenance, "process": alive})
    with pytest.raises(InvalidInput, match=f"run {run_id} is still running \\(process {parent} on"):
        resume(store, run_id, monkeypatch)
    assert store.get_run(run_id).status == "running"


def test_calibration_sample_compared_field_by_field():
    from harness.resume_check import check_calibration

    recorded = {"dataset": "c4", "origin": "local", "tokens_available": 100}
    check_calibration(7, recorded, dict(recorded))
    check_calibration(7, None, dict(recorded))  # never applied: nothing computed on it
    with pytest.raises(InvalidInput, match="origin='local' recorded, 'hub:allenai/c4@x' now"):
        check_calibration(7, recorded, {**recorded, "origin": "hub:allenai/c4@x"})
