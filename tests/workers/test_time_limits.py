"""Per-job time limits end stuck jobs as failed, and the worker goes on serving.

Only the stuck jobs get tight limits (each job carries its own); every other job runs with
generous ones, so a loaded machine changes how long the test takes, not its outcome:
- a job that keeps reporting progress past its limit is stopped at a report (the cooperative
  limit, which its suite cannot swallow with ``except Exception``);
- a job that never reports is killed by Celery at its hard limit (the backstop).
"""

from __future__ import annotations

import pytest

from tests.workers.conftest import tiny_spec

pytestmark = pytest.mark.timeout(300)


def test_per_job_time_limits_stop_only_the_stuck_jobs(service, tiny_dir):
    from db.jobs import job_runs
    from harness.runner import SuiteSpec

    svc = service
    # no periodic reconcile: the hard-limit kill itself must close the killed job's run
    svc.extra_env["SKIPBENCH_RECONCILE_INTERVAL_S"] = "0"
    worker = svc.start_worker()

    def submit(suite: SuiteSpec, **limits: float):  # noqa: ANN202
        return svc.submit(tiny_spec(tiny_dir, suite), **limits).job.id

    reporting = submit(SuiteSpec("sleepy", {"seconds": 3600}), time_limit_s=2)
    silent = submit(
        SuiteSpec("sleepy", {"seconds": 3600, "report": False}),
        time_limit_s=2,
        hard_time_limit_s=8,
    )
    generous = submit(SuiteSpec("nap", {"seconds": 0.5}), time_limit_s=600)
    default = submit(SuiteSpec("nap", {"seconds": 0.1, "marker": ""}))

    stopped = svc.wait_for(reporting, timeout=240)
    assert stopped.status == "failed" and stopped.attempts == 1
    assert stopped.error == "time limit: the job ran past its time limit of 2 s and was stopped"
    assert (stopped.soft_time_limit_s, stopped.hard_time_limit_s) == (2, 2 + 600)
    killed = svc.wait_for(silent, timeout=240)
    assert killed.status == "failed" and killed.attempts == 1
    assert killed.error == "time limit: killed at the hard limit of 8 s"
    (run,) = job_runs(svc.db_url, silent)  # its run is not left running
    assert (run.status, run.error) == ("failed", killed.error) and killed.run_id == run.id
    (run,) = job_runs(svc.db_url, reporting)
    assert run.status == "failed" and run.error.startswith("JobTimeLimit: ran past its time")
    for job_id in (generous, default):
        assert svc.wait_for(job_id, timeout=240).status == "succeeded"
    settings = svc.settings()
    assert svc.job(default).soft_time_limit_s == settings.job_soft_time_limit_s
    assert svc.job(default).hard_time_limit_s == settings.job_hard_time_limit_s
    assert worker.popen.poll() is None
    print("\nEVIDENCE time limits: 2 stuck jobs (reporting, silent) failed; 2 others succeeded")
