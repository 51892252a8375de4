"""db.jobs on PostgreSQL: identity under concurrency, the state machine, the reconcile plan."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import update

from db import jobs
from db.engine import session_scope, upgrade
from db.models import Job, utcnow
from skipbench.errors import InvalidInput

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def url(pg_url):
    upgrade(pg_url)
    return pg_url


def _new(url: str, queue: str = "q-unit") -> Job:
    job, created = jobs.create_or_get(url, uuid.uuid4().hex, {"method": "dense"}, queue)
    assert created
    return job


def _age_heartbeat(url: str, job_id: int, seconds: float) -> None:
    with session_scope(url) as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(heartbeat_at=utcnow() - timedelta(seconds=seconds))
        )


def test_create_or_get_is_idempotent_and_force_adds_a_generation(url):
    key = uuid.uuid4().hex
    first, created = jobs.create_or_get(url, key, {"a": 1}, "q")
    again, created_again = jobs.create_or_get(url, key, {"a": 1}, "q")
    forced, created_forced = jobs.create_or_get(url, key, {"a": 1}, "q", force=True)
    assert (created, created_again, created_forced) == (True, False, True)
    assert again.id == first.id and (first.generation, forced.generation) == (0, 1)
    assert jobs.create_or_get(url, key, {"a": 1}, "q")[0].id == forced.id  # newest generation


def test_concurrent_creates_of_one_key_make_one_job(url):
    key = uuid.uuid4().hex
    barrier = threading.Barrier(16)

    def create(_: int) -> tuple[int, bool]:
        barrier.wait()
        job, created = jobs.create_or_get(url, key, {}, "q")
        return job.id, created

    with ThreadPoolExecutor(16) as pool:
        out = list(pool.map(create, range(16)))
    assert len({job_id for job_id, _ in out}) == 1
    assert sum(created for _, created in out) == 1


def test_claim_heartbeat_finish_lifecycle(url):
    job = _new(url)
    claim = jobs.claim(url, job.id, "t1", "host-a", "0", stale_s=60, max_attempts=3)
    assert claim.ok and claim.reason == "claimed" and claim.job.attempts == 1
    # another message for the same job while the owner is alive: refused
    assert jobs.claim(url, job.id, "t2", "host-b", "1", stale_s=60, max_attempts=3).reason == "busy"
    assert jobs.heartbeat(url, job.id, "t1", "perplexity/wikitext2", 0.5) == "ok"
    got = jobs.get_job(url, job.id)
    assert (got.progress_suite, got.progress_fraction, got.worker_host) == (
        "perplexity/wikitext2",
        0.5,
        "host-a",
    )
    assert jobs.heartbeat(url, job.id, "t2") == "lost"
    assert not jobs.finish(url, job.id, "t2", "succeeded")  # not the owner
    assert jobs.finish(url, job.id, "t1", "succeeded")
    done = jobs.get_job(url, job.id)
    assert (
        done.status == "succeeded"
        and done.finished_at is not None
        and done.progress_fraction == 1.0
    )
    assert jobs.claim(url, job.id, "t1", "h", "0", 60, 3).reason == "succeeded"  # redelivered late


def test_takeover_after_redelivery_or_stale_heartbeat_until_max_attempts(url):
    job = _new(url)
    assert jobs.claim(url, job.id, "t1", "a", "0", 60, 3).ok
    redelivered = jobs.claim(url, job.id, "t1", "b", "1", 60, 3)  # same message: its worker died
    assert redelivered.ok and redelivered.job.attempts == 2
    _age_heartbeat(url, job.id, 120)
    stale = jobs.claim(url, job.id, "t3", "c", "2", 60, 3)
    assert stale.ok and stale.job.attempts == 3 and stale.job.celery_task_id == "t3"
    _age_heartbeat(url, job.id, 120)
    gave_up = jobs.claim(url, job.id, "t4", "d", "3", 60, 3)
    assert not gave_up.ok and gave_up.reason == "gave_up"
    final = jobs.get_job(url, job.id)
    assert final.status == "failed" and "gave up after 3 attempts" in final.error


def test_cancel_and_retry_transitions(url):
    job = _new(url)
    assert jobs.cancel(url, job.id)[0] == "queued"
    assert jobs.claim(url, job.id, "t1", "a", "0", 60, 3).reason == "cancelled"
    assert jobs.cancel(url, job.id)[0] == "cancelled"  # already ended: unchanged
    retried = jobs.reset_for_retry(url, job.id, stale_s=60)
    assert retried.status == "queued" and retried.attempts == 0 and retried.error is None

    assert jobs.claim(url, job.id, "t2", "a", "0", 60, 3).ok
    with pytest.raises(InvalidInput, match="is running"):
        jobs.reset_for_retry(url, job.id, stale_s=60)
    assert jobs.cancel(url, job.id)[0] == "running"
    assert jobs.heartbeat(url, job.id, "t2") == "cancelled"
    assert not jobs.finish(url, job.id, "t2", "succeeded")
    assert jobs.get_job(url, job.id).status == "cancelled"

    done = _new(url)
    jobs.claim(url, done.id, "t", "a", "0", 60, 3)
    jobs.finish(url, done.id, "t", "succeeded")
    with pytest.raises(InvalidInput, match="--force"):
        jobs.reset_for_retry(url, done.id, stale_s=60)
    with pytest.raises(InvalidInput, match="no job"):
        jobs.cancel(url, 10**9)


def test_reconcile_plan_resends_lost_and_stale_but_not_fresh_or_present(url):
    queue = f"q-{uuid.uuid4().hex[:8]}"
    present, lost, fresh, running_ok, running_stale = (_new(url, queue) for _ in range(5))
    for job, task in ((present, "m-present"), (lost, "m-lost"), (fresh, "m-fresh")):
        assert jobs.mark_enqueued(url, job.id, task)
    with session_scope(url) as s:  # 'lost' and 'present' were sent a while ago
        old = utcnow() - timedelta(seconds=600)
        s.execute(update(Job).where(Job.id.in_([present.id, lost.id])).values(enqueued_at=old))
    jobs.claim(url, running_ok.id, "r1", "a", "0", 60, 3)
    jobs.claim(url, running_stale.id, "r2", "b", "1", 60, 3)
    _age_heartbeat(url, running_stale.id, 120)

    counter = iter(range(100))
    plan = jobs.plan_reconcile(
        url, queue, {"m-present", "r1", "r2"}, 60, 30, 3, lambda: f"new-{next(counter)}"
    )
    assert plan.lost == [lost.id] and plan.stale == [running_stale.id] and plan.gave_up == []
    assert [job_id for job_id, _ in plan.to_send] == [lost.id, running_stale.id]
    requeued = jobs.get_job(url, running_stale.id)
    assert requeued.status == "queued" and requeued.celery_task_id.startswith("new-")
    # a second pass right after finds nothing: the new messages are within the grace period
    again = jobs.plan_reconcile(url, queue, {"m-present"}, 60, 30, 3, lambda: "x")
    assert again.to_send == []


def test_load_200_concurrent_submissions_of_50_specs_make_50_jobs(pg_url, tmp_path, tiny_dir):
    from db.jobs import count_by_status, list_jobs
    from tests.workers.conftest import make_service, tiny_spec
    from workers.broker import queue_length

    svc = make_service(pg_url, tmp_path)
    settings = svc.settings()
    specs = [tiny_spec(tiny_dir, seed=i) for i in range(50)]
    order = [specs[i % 50] for i in range(200)]
    barrier = threading.Barrier(40)

    def submit(spec):  # noqa: ANN001, ANN202
        from workers.service import submit as do_submit

        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=30)  # waves of 40 submissions released together
        sub = do_submit(spec, settings=settings)
        return spec.key(), sub.job.id, sub.created

    with ThreadPoolExecutor(40) as pool:
        out = list(pool.map(submit, order))
    assert len(out) == 200
    assert sum(created for _, _, created in out) == 50
    by_key: dict[str, set[int]] = {}
    for key, job_id, _ in out:
        by_key.setdefault(key, set()).add(job_id)
    assert len(by_key) == 50 and all(len(ids) == 1 for ids in by_key.values())
    assert count_by_status(pg_url, svc.queue) == {"queued": 50}
    assert len(list_jobs(pg_url, svc.queue, limit=None)) == 50
    assert queue_length(svc.broker_url, svc.queue) == 50  # one message per job, none twice
    print(
        f"\nEVIDENCE load: 200 concurrent submissions of 50 specs -> {len(by_key)} jobs, "
        f"{Counter(c for *_, c in out)[True]} created, 50 messages, 0 duplicates"
    )
