"""A job the worker gives up on closes its run ``failed``, and reconcile closes runs whose
process is gone (issue 13, defect 4), against the real Redis and PostgreSQL.

- a job whose process ends with ``os._exit`` at every attempt gives up after its attempts;
  its run ends ``failed`` with the job's reason, and stays resumable (``retry`` resumes it);
- a ``skipbench run`` whose process ends with ``os._exit`` leaves its run ``running``;
  ``skipbench queue reconcile`` (what the worker's periodic reconcile calls) closes it.

The hard-limit kill is checked in ``test_time_limits.py``.
"""

from __future__ import annotations

import json

import pytest

from tests.workers.conftest import tiny_spec

pytestmark = pytest.mark.timeout(420)


def _exit_spec(tiny_dir, tmp, suite_seconds: float = 0.1):  # noqa: ANN001, ANN202
    from harness.runner import SuiteSpec

    spare, marker = tmp / "spare", tmp / "applied"
    params = {"kind": "os_exit", "marker": str(marker), "spare": str(spare)}
    spec = tiny_spec(
        tiny_dir, SuiteSpec("nap", {"seconds": suite_seconds}), method="test_exit", params=params
    )
    return spec, spare, marker


def test_a_job_lost_at_every_attempt_gives_up_with_its_run_failed(service, tiny_dir):
    from db.jobs import job_runs

    svc = service
    # no periodic reconcile: only the give-up path may close the run
    svc.extra_env["SKIPBENCH_RECONCILE_INTERVAL_S"] = "0"
    worker = svc.start_worker()
    spec, spare, marker = _exit_spec(tiny_dir, svc.tmp)
    job_id = svc.submit(spec).job.id

    job = svc.wait_for(job_id, ("failed", "succeeded", "cancelled"), timeout=360)
    max_attempts = svc.settings().job_max_attempts
    assert job.status == "failed" and job.attempts == max_attempts
    assert job.error.startswith(f"gave up after {max_attempts} attempts: the worker"), job.error
    assert len(marker.read_text().split()) == max_attempts  # the method ran once per attempt
    (run,) = job_runs(svc.db_url, job_id)  # every attempt resumed the one run
    assert run.status == "failed" and run.error == job.error and run.finished_at is not None
    assert job.run_id == run.id

    from workers.service import retry

    spare.touch()  # the method now lets the job through; the same run resumes and finishes
    retry(job_id, settings=svc.settings())
    assert svc.wait_for(job_id, timeout=240).status == "succeeded"
    (again,) = job_runs(svc.db_url, job_id)
    assert again.id == run.id and again.status == "succeeded" and again.error is None
    assert worker.popen.poll() is None
    print(
        f"\nEVIDENCE give up: job {job_id} failed after {max_attempts} lost attempts, run "
        f"{run.id} failed with its reason, then resumed to succeeded"
    )


def test_queue_reconcile_closes_a_run_whose_process_is_gone(service, tiny_dir):
    from db.store import Store
    from harness import process_identity

    svc = service
    spec, _, _ = _exit_spec(tiny_dir, svc.tmp)
    model = spec.model.source
    out = svc.cli(
        "run", "--model", model, "--device", "cpu", "--method", "test_exit",
        "--set", "kind=os_exit", "--suite", "nap",
    )  # fmt: skip
    assert out.returncode == 3, out.stdout + out.stderr
    store = Store(svc.db_url)
    (run,) = [r for r in store.runs(status="running") if r.method_name == "test_exit"]
    identity = run.provenance["process"]
    assert identity["host"] == process_identity.host_name()

    out = svc.cli("queue", "reconcile", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    reason = f"process {identity['pid']} on {identity['host']} is gone"
    run = store.get_run(run.id)
    assert run.status == "failed" and run.error == reason and run.finished_at is not None
    closed = json.loads(out.stdout.strip().splitlines()[-1])["runs_closed"]
    assert closed == {str(run.id): reason}
    again = svc.cli("queue", "reconcile", "--json")  # closed once
    assert json.loads(again.stdout.strip().splitlines()[-1])["runs_closed"] == {}


def test_reconcile_giving_up_a_stale_job_closes_its_run(service):
    """A job whose heartbeat went stale at its last attempt is failed by reconcile; its run
    (its process still alive, so only the give-up can close it) ends failed with the reason."""
    from datetime import timedelta

    from sqlalchemy import update

    from db import jobs
    from db.engine import session_scope
    from db.models import Job, utcnow
    from db.store import Store
    from harness import process_identity
    from workers.reconcile import reconcile

    svc = service
    settings = svc.settings()
    job, _ = jobs.create_or_get(svc.db_url, f"stale-{svc.queue}", {"method": "dense"}, svc.queue)
    for attempt in range(settings.job_max_attempts):
        assert jobs.claim(svc.db_url, job.id, f"t{attempt}", "h", "0", 0, 99).ok
    store = Store(svc.db_url)
    alive = {"process": process_identity.this_process()}
    run_id = store.create_run(
        model_id="m", model_dtype="float32", method_name="dense", job_id=job.id, provenance=alive
    )
    with session_scope(svc.db_url) as s:
        stale = utcnow() - timedelta(seconds=settings.heartbeat_stale_s + 60)
        s.execute(update(Job).where(Job.id == job.id).values(heartbeat_at=stale))

    report = reconcile(settings)
    assert report.gave_up == (job.id,)
    failed = svc.job(job.id)
    assert failed.status == "failed" and failed.error.startswith("gave up after")
    run = store.get_run(run_id)
    assert (run.status, run.error) == ("failed", failed.error) and failed.run_id == run_id
    assert report.runs_closed == {run_id: failed.error}
