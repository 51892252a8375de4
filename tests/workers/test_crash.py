"""Crash: kill -9 while a job runs; the job then finishes exactly once, with no duplicate rows.

The job has three suites: perplexity and ``nap`` finish before the kill, ``sleepy`` is running
when it lands. ``nap`` and ``sleepy`` append a line to a marker file each time they start, so
the test counts executions independently of the store.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.workers.conftest import tiny_spec

pytestmark = pytest.mark.timeout(420)


def _crash_spec(tiny_dir: Path, tmp: Path, perplexity: bool = True):
    from harness.runner import SuiteSpec

    markers = {"nap": tmp / "nap.marker", "sleepy": tmp / "sleepy.marker"}
    release = tmp / "release"
    first = [SuiteSpec("perplexity", {"limit": 2, "seq_len": 32})] if perplexity else []
    spec = tiny_spec(
        tiny_dir,
        *first,
        SuiteSpec("nap", {"seconds": 0.1, "marker": str(markers["nap"])}),
        SuiteSpec(
            "sleepy", {"seconds": 300, "release": str(release), "marker": str(markers["sleepy"])}
        ),
    )
    return spec, markers, release


def _wait_file(path: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert path.exists(), f"{path} never appeared"


def _results(db_url: str, job_id: int) -> tuple[list, list]:
    from db.engine import session_scope
    from db.models import Result, Run

    with session_scope(db_url) as s:
        runs = list(s.scalars(select(Run).where(Run.job_id == job_id)))
        rows = list(s.scalars(select(Result).where(Result.run_id.in_([r.id for r in runs]))))
        dupes = list(
            s.execute(
                select(Result.run_id, Result.suite, Result.task, Result.metric, func.count())
                .group_by(Result.run_id, Result.suite, Result.task, Result.metric)
                .having(func.count() > 1)
            )
        )
    assert dupes == []
    return runs, rows


_PERPLEXITY_KEYS = [("perplexity", "wikitext2", "nll"), ("perplexity", "wikitext2", "perplexity")]


def _check_exactly_once(
    svc, job_id: int, markers: dict, before: dict, perplexity: bool = True
) -> None:
    job = svc.wait_for(job_id, timeout=240)
    assert job.status == "succeeded", job.error
    assert job.attempts == 2
    runs, rows = _results(svc.db_url, job_id)
    assert len(runs) == 1 and runs[0].status == "succeeded" and job.run_id == runs[0].id
    keys = sorted((r.suite, r.task, r.metric) for r in rows)
    expected = [
        ("nap", "wait", "waited"),
        *(_PERPLEXITY_KEYS if perplexity else []),
        ("sleepy", "wait", "waited"),
    ]
    assert keys == expected
    # suites stored before the crash were not recomputed: same row ids, nap started once
    assert {(r.suite, r.metric): r.id for r in rows if r.suite != "sleepy"} == before
    assert len(markers["nap"].read_text().split()) == 1
    assert len(markers["sleepy"].read_text().split()) == 2  # interrupted, then resumed


def _stored_before_crash(svc, job_id: int, perplexity: bool = True) -> dict:
    _, rows = _results(svc.db_url, job_id)
    before = {(r.suite, r.metric): r.id for r in rows}
    expected = {("nap", "waited")} | (
        {("perplexity", "perplexity"), ("perplexity", "nll")} if perplexity else set()
    )
    assert set(before) == expected
    return before


def test_kill_whole_worker_then_new_worker_finishes_once(service, tiny_dir, shared_data_dir):
    svc = service
    spec, markers, release = _crash_spec(tiny_dir, svc.tmp)
    first = svc.start_worker()
    job_id = svc.submit(spec).job.id
    _wait_file(markers["sleepy"])
    child = int(markers["sleepy"].read_text().split()[0])
    before = _stored_before_crash(svc, job_id)

    first.kill9(group=False)  # the parent only; no chance to clean up
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the job child outlived its worker"
    assert svc.job(job_id).status == "running"  # the store still believes it runs
    release.touch()
    t0 = time.monotonic()
    svc.start_worker()  # its reconciler requeues the job once the heartbeat is stale
    _check_exactly_once(svc, job_id, markers, before)
    print(
        f"\nEVIDENCE crash (kill -9 worker): 1 job, 1 fault, resumed and finished in "
        f"{time.monotonic() - t0:.1f}s after the new worker started; 1 run, 4 result rows, 0 duplicates"
    )


def test_kill_job_child_requeues_on_the_same_worker(service, tiny_dir):
    svc = service
    spec, markers, release = _crash_spec(tiny_dir, svc.tmp, perplexity=False)
    worker = svc.start_worker()
    job_id = svc.submit(spec).job.id
    _wait_file(markers["sleepy"])
    child = int(markers["sleepy"].read_text().split()[0])
    assert child in worker.children()
    before = _stored_before_crash(svc, job_id, perplexity=False)

    release.touch()
    os.kill(child, signal.SIGKILL)  # Celery sees the child lost and requeues the message
    _check_exactly_once(svc, job_id, markers, before, perplexity=False)
    assert worker.popen.poll() is None
    print("\nEVIDENCE crash (kill -9 job child): 1 job, 1 fault, requeued by Celery, 0 duplicates")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False
