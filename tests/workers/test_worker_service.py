"""End to end against a real worker process (CPU, tiny model), PostgreSQL and Redis.

One worker serves the whole module: the end-to-end job, bad jobs, and cancellations; it must
still be the same process at the end (it kept serving).
"""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.workers.conftest import tiny_spec

pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def worker(module_service):
    return module_service.start_worker()


def _rows(db_url: str, run_id: int) -> list[tuple]:
    from db.store import Store

    return [(r.suite, r.task, r.metric, r.value) for r in Store(db_url).results([run_id])]


def test_end_to_end_submit_wait(module_service, worker, tiny_dir, shared_data_dir):
    from harness.runner import execute

    svc = module_service
    args = [
        "submit",
        "--model",
        str(tiny_dir),
        "--limit",
        "2",
        "--seq-len",
        "32",
        "--device",
        "cpu",
    ]
    t0 = time.monotonic()
    done = svc.cli(*args, "--wait", "--json")
    elapsed = time.monotonic() - t0
    assert done.returncode == 0, done.stderr + done.stdout
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    job = svc.job(summary["job_id"])
    assert job.status == "succeeded" and job.error is None
    assert job.attempts == 1 and job.worker_host and job.worker_gpu == "cpu"
    assert job.started_at <= job.finished_at and job.progress_fraction == 1.0
    rows = _rows(svc.db_url, job.run_id)
    assert sorted((s, t, m) for s, t, m, _ in rows) == [
        ("perplexity", "wikitext2", "nll"),
        ("perplexity", "wikitext2", "perplexity"),
    ]
    # the worker's number equals the same spec evaluated in this process, without a store
    reference = execute(tiny_spec(tiny_dir), None)
    expected = {(r["task"], r["metric"]): r["value"] for r in reference["results"]}
    for _, task, metric, value in rows:
        assert value == pytest.approx(expected[(task, metric)], rel=1e-6)
    print(
        f"\nEVIDENCE end-to-end: submit --wait took {elapsed:.1f}s (job {job.id}, run {job.run_id})"
    )

    # the same evaluation again is the same job (no second run)
    again = svc.cli(*args, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["job_id"] == job.id
    assert "already exists (succeeded)" in again.stdout
    detail = svc.cli("status", str(job.id), "--json")
    assert json.loads(detail.stdout.strip().splitlines()[-1])["run_id"] == job.run_id


def test_force_makes_a_new_generation(module_service, worker, tiny_dir):
    svc = module_service
    spec = tiny_spec(tiny_dir, _nap(0.1))
    first, same = svc.submit(spec), svc.submit(spec)
    forced = svc.submit(spec, force=True)
    assert first.created and not same.created and same.job.id == first.job.id
    assert forced.created and forced.job.id != first.job.id
    assert (first.job.generation, forced.job.generation) == (0, 1)
    assert {svc.wait_for(j.job.id).status for j in (first, forced)} == {"succeeded"}
    status = svc.cli("status", "--queue", svc.queue)
    assert (
        status.returncode == 0
        and f"{forced.job.id}" in status.stdout
        and "succeeded" in status.stdout
    )


def _nap(seconds: float, **extra):  # noqa: ANN003, ANN202
    from harness.runner import SuiteSpec

    return SuiteSpec("nap", {"seconds": seconds, **extra})


def test_submit_checks_locally_and_needs_a_broker(module_service, tiny_dir):
    svc = module_service
    bad = svc.cli("submit", "--model", str(tiny_dir), "--method", "shortgpt", "--sparsity", "1.5")
    assert bad.returncode == 2 and "sparsity=1.5" in bad.stderr
    # the tiny model's window is 256 tokens: submit refuses the default seq_len of 2048 itself.
    # The accepted jobs run on the module's one worker before the next test's jobs: --limit keeps
    # them to a few windows (the whole split at seq_len 64 took 3 minutes with both cores busy)
    window = ("--seq-len", "64", "--limit", "2")
    ok = svc.cli("submit", "--model", str(tiny_dir), *window)
    assert ok.returncode == 0, ok.stderr
    bad = svc.cli("submit", "--model", str(tiny_dir))
    assert bad.returncode == 2 and "seq_len=2048 exceeds" in bad.stderr
    bad = svc.cli("submit", "--model", str(tiny_dir), *window, "--time-limit", "0")
    assert bad.returncode == 2 and "time limits soft=0 s" in bad.stderr
    limited = svc.cli(
        "submit", "--model", str(tiny_dir), *window, "--seed", "99", "--time-limit", "900"
    )
    assert limited.returncode == 0, limited.stderr
    limited = svc.cli("status", "--json")
    assert limited.returncode == 0, limited.stderr
    newest = json.loads(limited.stdout.strip().splitlines()[-1])[0]
    assert newest["time_limits_s"] == {"soft": 900, "hard": 900 + 600}
    svc.extra_env["SKIPBENCH_BROKER_URL"] = "redis://127.0.0.1:1/0"
    try:
        refused = svc.cli("submit", "--model", str(tiny_dir), *window, "--seed", "7")
    finally:
        del svc.extra_env["SKIPBENCH_BROKER_URL"]
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 1 and len(lines) == 1
    assert "no broker reachable" in lines[0] and "skipbench run" in lines[0]


def test_bad_jobs_fail_readably_and_the_worker_keeps_serving(module_service, worker, tiny_dir):
    from harness.models import ModelSpec
    from harness.runner import RunSpec

    svc = module_service
    parent = worker.popen.pid
    cases = {
        "unknown method": (
            tiny_spec(tiny_dir, method="no_such_method"),
            "unknown method 'no_such_method'",
        ),
        "invalid parameters": (
            tiny_spec(tiny_dir, method="shortgpt", params={"sparsity": 1.5}),
            "sparsity=1.5",
        ),
        "missing model": (
            RunSpec(model=ModelSpec(source=str(tiny_dir / "missing-model"), device="cpu")),
            "missing-model",
        ),
        "out of memory": (tiny_spec(tiny_dir, method="test_oom"), "out of memory"),
    }
    ids = {name: svc.submit(spec).job.id for name, (spec, _) in cases.items()}
    good = svc.submit(tiny_spec(tiny_dir, _nap(0.1), seed=3)).job.id
    for name, (_, needle) in cases.items():
        job = svc.wait_for(ids[name])
        assert job.status == "failed", (name, job.status)
        first = job.error.splitlines()[0]
        assert needle in first, (name, first)
        assert "Traceback" not in first
    assert svc.job(ids["out of memory"]).error.startswith("out of memory on GPU cpu")
    assert svc.wait_for(good).status == "succeeded"
    assert worker.popen.poll() is None and worker.popen.pid == parent
    print(
        f"\nEVIDENCE bad jobs: {len(cases)} faults injected, {len(cases)} failed readably, next job succeeded"
    )


def test_cancel_queued_and_running(module_service, worker, tiny_dir):
    from db.jobs import job_runs
    from harness.runner import SuiteSpec
    from workers.broker import queue_length

    svc = module_service
    marker_a, marker_b = svc.tmp / "cancel-a", svc.tmp / "cancel-b"
    running = svc.submit(
        tiny_spec(tiny_dir, SuiteSpec("sleepy", {"seconds": 300, "marker": str(marker_a)}))
    ).job.id
    svc.wait_for(running, ("running",))
    deadline = time.monotonic() + 120
    while not marker_a.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    child = int(marker_a.read_text().split()[0])
    queued = svc.submit(
        tiny_spec(tiny_dir, SuiteSpec("sleepy", {"seconds": 300, "marker": str(marker_b)}))
    ).job.id
    assert svc.job(queued).status == "queued"
    assert queue_length(svc.broker_url, svc.queue) == 1

    out = svc.cli("cancel", str(queued))
    assert out.returncode == 0 and "was queued" in out.stdout
    assert svc.job(queued).status == "cancelled"
    assert queue_length(svc.broker_url, svc.queue) == 0  # removed from the queue

    out = svc.cli("cancel", str(running))
    assert out.returncode == 0 and "was running" in out.stdout
    deadline = time.monotonic() + 60
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(child), "the running job's process was not stopped"
    job = svc.job(running)
    assert job.status == "cancelled" and "cancelled by user" in job.error
    runs = job_runs(svc.db_url, running)
    assert [r.status for r in runs] == ["failed"] and _rows(svc.db_url, runs[0].id) == []
    # the run keeps the reason the user cancelled it with, and the job points at its run
    assert runs[0].error == "cancelled by user" and job.run_id == runs[0].id

    after = svc.submit(tiny_spec(tiny_dir, _nap(0.1), seed=11)).job.id
    assert svc.wait_for(after).status == "succeeded"
    assert not marker_b.exists(), "a cancelled queued job ran"
    assert svc.job(queued).status == "cancelled" and svc.job(running).status == "cancelled"
    assert worker.popen.poll() is None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def test_exit_from_a_method_fails_the_job_once(module_service, worker, tiny_dir):
    from db.jobs import job_runs

    svc = module_service
    cases = {"system_exit": "SystemExit(3)", "keyboard_interrupt": "KeyboardInterrupt"}
    ids, markers = {}, {}
    for kind in cases:
        markers[kind] = svc.tmp / f"exit-{kind}.marker"
        spec = tiny_spec(
            tiny_dir, method="test_exit", params={"kind": kind, "marker": str(markers[kind])}
        )
        ids[kind] = svc.submit(spec).job.id
    for kind, needle in cases.items():
        job = svc.wait_for(ids[kind])
        first = job.error.splitlines()[0]
        assert (job.status, job.attempts) == ("failed", 1), (kind, job.error)
        assert needle in first and "worker" not in first, first
        assert len(markers[kind].read_text().split()) == 1  # ran once, not three times
        runs = job_runs(svc.db_url, job.id)
        assert [r.status for r in runs] == ["failed"] and job.run_id == runs[0].id
    assert worker.popen.poll() is None
    print("\nEVIDENCE exit in a method: SystemExit and KeyboardInterrupt failed their job once")


def test_remote_code_jobs_are_refused_by_default(module_service, worker, tiny_dir):
    import dataclasses

    from db.jobs import job_runs

    svc = module_service
    base = tiny_spec(tiny_dir, _nap(0.1), seed=21)
    spec = dataclasses.replace(base, model=dataclasses.replace(base.model, trust_remote_code=True))
    job = svc.wait_for(svc.submit(spec).job.id)
    assert job.status == "failed" and job.attempts == 1
    assert job.error.startswith("refused: the job asks for trust_remote_code")
    assert job_runs(svc.db_url, job.id) == []  # refused before anything was loaded
