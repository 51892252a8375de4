"""The store (PostgreSQL) goes away under a worker: no job is swallowed, none loses an attempt.

The worker reaches PostgreSQL through a TCP forwarder the test switches off and on (a real
outage for that worker only); submissions and a second, healthy worker use the server itself.
"""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy.engine import make_url

from tests.workers.conftest import Service, tiny_spec
from tests.workers.tcp_proxy import TcpProxy

pytestmark = pytest.mark.timeout(420)


def _nap(seconds: float, **extra):  # noqa: ANN003, ANN202
    from harness.runner import SuiteSpec

    return SuiteSpec("nap", {"seconds": seconds, **extra})


@pytest.fixture
def proxy(pg_url):
    parsed = make_url(pg_url)
    forwarder = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    forwarder.up()
    forwarder.url = parsed.set(port=forwarder.port).render_as_string(hide_password=False)
    yield forwarder
    forwarder.down()


def _start_via(svc: Service, url: str, wait: bool = True):  # noqa: ANN202
    saved = dict(svc.extra_env)
    svc.extra_env.update(SKIPBENCH_DATABASE_URL=url)
    try:
        return svc.start_worker(wait=wait)
    finally:
        svc.extra_env.clear()
        svc.extra_env.update(saved)


def _waiting_ids(svc: Service) -> set[str]:
    """Task ids waiting in the queue list itself (not handed to any worker)."""
    import redis

    from workers.broker import message_task_id

    client = redis.Redis.from_url(svc.broker_url)
    return {message_task_id(raw) for raw in client.lrange(svc.queue, 0, -1)} - {None}


def _wait_until(predicate, what: str, timeout: float = 120) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_worker_refuses_to_start_without_its_store(service, tiny_dir):
    svc = service
    with socket.socket() as probe:  # a port with nothing behind it
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    dead = make_url(svc.db_url).set(port=dead_port).render_as_string(hide_password=False)
    job = svc.submit(tiny_spec(tiny_dir, _nap(0.1))).job
    svc.extra_env["SKIPBENCH_WORKER_STORE_WAIT_S"] = "1"
    worker = _start_via(svc, dead, wait=False)
    try:
        worker.popen.wait(timeout=120)
    except Exception as exc:
        raise AssertionError(
            f"the worker kept running without its store:\n{worker.tail()}"
        ) from exc
    log = worker.log.read_text(errors="replace")
    assert worker.popen.returncode != 0 and " ready." not in log
    assert f"store unreachable at postgresql+psycopg://postgres@127.0.0.1:{dead_port}" in log
    assert svc.job(job.id).status == "queued" and job.celery_task_id in _waiting_ids(svc)
    print(
        "\nEVIDENCE store down at start: worker refused to start; the queued job kept its message"
    )


def test_worker_takes_no_jobs_while_its_store_is_down(service, tiny_dir, proxy):
    svc = service
    flaky = _start_via(svc, proxy.url)
    proxy.down()
    first = svc.submit(tiny_spec(tiny_dir, _nap(0.1), seed=1)).job  # may reach the worker
    _wait_until(  # the worker noticed the outage, or (without the fix) it took the first job
        lambda: any(
            needle in flaky.log.read_text(errors="replace")
            for needle in ("store unreachable: not taking jobs", f"{first.celery_task_id}] raised")
        ),
        "the worker to notice the outage",
    )
    later = [svc.submit(tiny_spec(tiny_dir, _nap(0.1), seed=s)).job for s in (2, 3)]
    jobs = [first, *later]
    wanted = {j.celery_task_id for j in jobs}
    _wait_until(lambda: wanted <= _waiting_ids(svc), "every message back in the queue")
    for job in jobs:
        stored = svc.job(job.id)
        assert (stored.status, stored.attempts) == ("queued", 0)

    healthy = svc.start_worker()  # next to it, reaching the store
    for job in jobs:
        done = svc.wait_for(job.id)
        assert (done.status, done.attempts) == ("succeeded", 1), done.error
    assert "succeeded in" not in flaky.log.read_text(errors="replace")

    proxy.up()
    flaky.wait_log("store reachable again: taking jobs")
    healthy.stop()
    again = svc.submit(tiny_spec(tiny_dir, _nap(0.1), seed=4)).job
    assert svc.wait_for(again.id).status == "succeeded"
    assert again.celery_task_id in flaky.log.read_text(errors="replace")
    assert flaky.popen.poll() is None
    print(
        f"\nEVIDENCE store down under a worker: {len(jobs)} jobs kept their messages, "
        "ran once each on the healthy worker; the worker took jobs again once the store was back"
    )


def test_store_blip_at_the_end_of_a_job_costs_no_attempt(service, tiny_dir, proxy):
    from db.jobs import job_runs
    from harness.runner import SuiteSpec

    svc = service
    release, marker = svc.tmp / "release", svc.tmp / "sleepy.marker"
    worker = _start_via(svc, proxy.url)
    spec = tiny_spec(
        tiny_dir,
        SuiteSpec("sleepy", {"seconds": 300, "release": str(release), "marker": str(marker)}),
    )
    job_id = svc.submit(spec).job.id
    _wait_until(marker.exists, "the job's suite to start", timeout=180)
    proxy.down()
    release.touch()  # the suite ends now; its results are written into the outage
    _wait_until(  # the write met the outage (retried, or without the fix: the job failed)
        lambda: any(
            needle in worker.log.read_text(errors="replace")
            for needle in ("results: store unreachable", f"job {job_id} failed")
        ),
        "the results write to meet the outage",
    )
    proxy.up()
    job = svc.wait_for(job_id)
    assert (job.status, job.attempts, job.error) == ("succeeded", 1, None)
    runs = job_runs(svc.db_url, job_id)
    assert [r.status for r in runs] == ["succeeded"] and job.run_id == runs[0].id
    assert len(marker.read_text().split()) == 1  # the suite ran once
    print("\nEVIDENCE store blip at a job's end: the write was retried; 1 attempt, 1 run")
