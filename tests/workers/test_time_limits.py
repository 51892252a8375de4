"""Per-job time limits end a stuck job as failed, and the worker goes on serving."""

from __future__ import annotations

import pytest

from tests.workers.conftest import tiny_spec

pytestmark = pytest.mark.timeout(300)


def test_soft_and_hard_time_limits_fail_the_job(service, tiny_dir):
    from harness.runner import SuiteSpec

    svc = service
    svc.extra_env.update(SKIPBENCH_JOB_SOFT_TIME_LIMIT_S="4", SKIPBENCH_JOB_HARD_TIME_LIMIT_S="8")
    worker = svc.start_worker()
    soft = svc.submit(tiny_spec(tiny_dir, SuiteSpec("sleepy", {"seconds": 120}))).job.id
    stuck = svc.submit(
        tiny_spec(tiny_dir, SuiteSpec("sleepy", {"seconds": 120, "ignore_soft_limit": True}))
    ).job.id
    after = svc.submit(tiny_spec(tiny_dir, SuiteSpec("nap", {"seconds": 0.1}))).job.id

    job = svc.wait_for(soft, timeout=120)
    assert job.status == "failed" and job.error.startswith(
        "time limit: the job ran past its soft time limit"
    )
    job = svc.wait_for(stuck, timeout=120)
    assert job.status == "failed" and job.error == "time limit: killed at the hard limit of 8 s"
    assert svc.wait_for(after, timeout=120).status == "succeeded"
    assert worker.popen.poll() is None
    print("\nEVIDENCE time limits: 2 stuck jobs (soft, hard) ended failed; the next job succeeded")
