"""Runs never stay ``running`` forever, and bad input never gets a run row (issue 13, 4, 7, 9).

A run records its process (host, pid, start time, boot id). A process that died without
closing its run (``os._exit``, kill -9) is found by ``reconcile_runs`` on its host and the run
ended ``failed`` ("process N on HOST is gone"), still resumable; SIGTERM ends a CLI run
``failed`` as Ctrl-C does. SQLite and the real PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from db.store import Store
from harness import process_identity
from harness.models import ModelSpec
from harness.run_reconcile import reconcile_runs
from harness.runner import RunSpec, SuiteSpec, execute
from skipbench.errors import InvalidInput

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request):
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def tiny_spec(model_dir, **suite_params) -> RunSpec:
    params = {"tasks": ["wikitext2"], "limit": 1, "seq_len": 32, **suite_params}
    return RunSpec(
        model=ModelSpec(source=str(model_dir), device="cpu"),
        suites=(SuiteSpec("perplexity", params),),
    )


def python(code: str, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **env},
    )


def test_process_identity_tells_a_reused_pid_and_other_hosts():
    me = process_identity.this_process()
    assert process_identity.is_gone(me) is False
    if me["start_ticks"] is not None:  # Linux: same pid, another start time = another process
        assert process_identity.is_gone({**me, "start_ticks": me["start_ticks"] + 1}) is True
    assert process_identity.is_gone({**me, "host": me["host"] + "-elsewhere"}) is None
    assert process_identity.is_gone({}) is None
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    assert process_identity.is_gone({**me, "pid": int(done.stdout), "start_ticks": None}) is True


def test_a_method_that_calls_os_exit_leaves_a_run_reconcile_closes(
    url, tiny_model_dir, shared_data_dir
):
    """The process ends inside the suite with os._exit: no handler runs, the run stays
    ``running``; ``reconcile_runs`` closes it as failed, and it resumes."""
    spec = tiny_spec(tiny_model_dir)
    out = python(
        f"""
        import os
        from db.store import Store
        from harness.runner import RunSpec, execute
        from harness.suites.perplexity.suite import PerplexitySuite
        PerplexitySuite.run = lambda self, lm, ctx: os._exit(3)
        execute(RunSpec.from_dict({spec.to_dict()!r}), Store({url!r}))
        """,
        env={},
    )
    assert out.returncode == 3, out.stderr
    store = Store(url)  # (the PostgreSQL database is shared by the session's tests)
    (run,) = [r for r in store.runs() if r.provenance.get("spec_key") == spec.key()]
    assert run.status == "running"  # the defect: nothing closed it
    identity = run.provenance["process"]
    assert identity["host"] == process_identity.host_name() and identity["pid"] != os.getpid()

    report = reconcile_runs(store)
    reason = f"process {identity['pid']} on {identity['host']} is gone"
    assert report.closed[run.id] == reason
    run = store.get_run(run.id)
    assert run.status == "failed" and run.error == reason and run.finished_at is not None
    assert run.id not in reconcile_runs(store).closed  # closed once

    record = execute(spec, store, resume_run_id=run.id)  # still resumable
    assert record["status"] == "succeeded" and record["run_id"] == run.id
    assert store.get_run(run.id).provenance["process"]["pid"] == os.getpid()


def test_reconcile_leaves_live_and_foreign_runs_alone(url):
    store = Store(url)
    me = process_identity.this_process()
    base = dict(model_id="m", model_dtype="float32", method_name="dense")
    live = store.create_run(**base, provenance={"process": me})
    foreign = store.create_run(
        **base, provenance={"process": {**me, "host": "another-host", "pid": 1}}
    )
    unknown = store.create_run(**base, provenance={})
    report = reconcile_runs(store)
    ours = {live, foreign, unknown}
    assert not ours & set(report.closed) and ours & set(report.alive) == {live}
    assert ours & set(report.elsewhere) == {foreign, unknown}
    assert {r.status for r in store.runs(ids=ours)} == {"running"}


def test_close_run_failed_only_closes_running_runs_of_that_process(url):
    store = Store(url)
    base = dict(model_id="m", model_dtype="float32", method_name="dense")
    done = store.create_run(**base)
    store.finish_run(done, "succeeded")
    assert store.close_run_failed(done, "gave up") is False
    assert store.get_run(done).status == "succeeded"

    resumed = store.create_run(**base, provenance={"process": {"host": "h", "pid": 2}})
    assert store.close_run_failed(resumed, "gone", process={"host": "h", "pid": 1}) is False
    assert store.close_run_failed(resumed, "gone", process={"host": "h", "pid": 2}) is True
    assert store.get_run(resumed).error == "gone"


def test_close_job_runs_failed(url):
    from db.engine import session_scope
    from db.models import Job

    store = Store(url)
    with session_scope(url) as s:
        job = Job(key="j" * 64, spec={}, queue="q")
        s.add(job)
        s.flush()
        job_id = job.id
    base = dict(model_id="m", model_dtype="float32", method_name="dense", job_id=job_id)
    running = store.create_run(**base)
    finished = store.create_run(**base)
    store.finish_run(finished, "succeeded")
    assert store.close_job_runs_failed(job_id, "gave up after 3 attempts") == [running]
    assert store.get_run(running).status == "failed"
    assert store.get_run(running).error == "gave up after 3 attempts"
    assert store.get_run(finished).status == "succeeded"


def test_sigterm_ends_a_cli_run_failed(tiny_model_dir, shared_data_dir, tmp_path):
    """``skipbench run`` stopped with SIGTERM (as a supervisor or ``kill`` does): the run ends
    ``failed`` with "Terminated: stopped by SIGTERM", exit 143, one line on stderr."""
    marker = tmp_path / "in-suite"
    db = tmp_path / "cli.db"
    code = f"""
        import sys, time
        from pathlib import Path
        from harness.suites.perplexity.suite import PerplexitySuite
        def hang(self, lm, ctx):
            Path({str(marker)!r}).write_text("x")
            while True:
                time.sleep(0.05)
        PerplexitySuite.run = hang
        from cli.main import main
        sys.argv = ["skipbench", "run", "--model", {str(tiny_model_dir)!r}, "--device", "cpu",
                    "--limit", "1", "--seq-len", "16"]
        main()
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env={**os.environ, "SKIPBENCH_DATABASE_URL": f"sqlite:///{db}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():  # the run row exists and the suite is running
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never reached its suite"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == "stopped by SIGTERM"
    (run,) = Store(f"sqlite:///{db}").runs()
    assert run.status == "failed" and run.error == "Terminated: stopped by SIGTERM"


def test_random_weights_refused_before_the_model_is_built(sqlite_url, monkeypatch):
    """``config:llama-2-7b`` with a quality suite: refused before 7 B random weights exist."""
    from harness import random_models

    def must_not_build(*args, **kwargs):
        raise AssertionError("the random model was built before it was refused")

    monkeypatch.setattr(random_models, "build_model", must_not_build)
    spec = RunSpec(model=ModelSpec(source="config:llama-2-7b", device="cpu"))
    with pytest.raises(InvalidInput, match="has random weights; suite\\(s\\) perplexity"):
        execute(spec, Store(sqlite_url))
    assert Store(sqlite_url).runs() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"suite": {"seq_len": 100000}},
            "seq_len=100000 exceeds the model's context window of 256",
        ),
        (
            {"method": ("shortgpt", {"num_layers": 1, "calib_dataset": "ptb"})},
            "calib_dataset='ptb' is unknown; allowed: c4, wikitext2",
        ),
        ({"method": ("shortgpt", {"num_layers": 4})}, "num_layers=4 must be smaller than"),
    ],
    ids=["seq_len", "calib_dataset", "num_layers"],
)
def test_bad_input_is_refused_before_loading_and_before_a_run_row(
    change, message, tiny_model_dir, sqlite_url, monkeypatch
):
    from harness import runner

    def must_not_load(spec):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(runner, "load_model", must_not_load)
    spec = tiny_spec(tiny_model_dir, **change.get("suite", {}))
    if "method" in change:
        name, params = change["method"]
        spec = RunSpec(model=spec.model, method=name, method_params=params, suites=spec.suites)
    with pytest.raises(InvalidInput, match=message.replace("(", "\\(")):
        execute(spec, Store(sqlite_url))
    assert Store(sqlite_url).runs() == []


def test_context_window_checked_against_the_loaded_model_too(
    tiny_model_dir, sqlite_url, monkeypatch
):
    """A model whose config cannot be read before loading (hub, .gguf) is checked once loaded,
    still before its run row."""
    from harness import preflight

    monkeypatch.setattr(preflight, "model_facts", lambda source, missing_ok=False: None)
    with pytest.raises(InvalidInput, match="seq_len=100000 exceeds the model's context window"):
        execute(tiny_spec(tiny_model_dir, seq_len=100000), Store(sqlite_url))
    assert Store(sqlite_url).runs() == []


def test_prepare_leaves_a_path_missing_here_to_the_worker():
    from harness.runner import prepare

    spec = RunSpec(model=ModelSpec(source="/only/on/the/worker/model"))
    assert prepare(spec).spec == spec
