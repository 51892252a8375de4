"""Timestamps read back timezone-aware (UTC) on SQLite and PostgreSQL, so heartbeat ages,
reconcile and ``skipbench status`` work on every backend (issue 13, defect 3)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import update

from db import jobs
from db.engine import session_scope, upgrade
from db.models import Job, utcnow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, sqlite_url):
    chosen = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    upgrade(chosen)
    return chosen


def _running_job(url: str, queue: str) -> Job:
    job, _ = jobs.create_or_get(url, uuid.uuid4().hex, {"method": "dense"}, queue)
    assert jobs.mark_enqueued(url, job.id, "t1")
    claim = jobs.claim(url, job.id, "t1", "host-a", "0", stale_s=60, max_attempts=3)
    assert claim.ok
    return jobs.require_job(url, job.id)


def test_job_timestamps_read_back_aware_in_utc(url):
    before = utcnow()
    job = _running_job(url, f"q-{uuid.uuid4().hex[:8]}")
    for name in ("created_at", "started_at", "heartbeat_at", "enqueued_at"):
        value = getattr(job, name)
        assert value.tzinfo is not None and value.utcoffset() == timedelta(0), name
        assert before - timedelta(seconds=5) <= value <= utcnow() + timedelta(seconds=5), name
    # a naive value handed in is taken as UTC; an aware one in another zone is converted
    plus_two = timezone(timedelta(hours=2))
    with session_scope(url) as s:
        s.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(
                finished_at=datetime(2024, 1, 1, 12, 0, 0),
                enqueued_at=datetime(2024, 1, 1, 14, 0, 0, tzinfo=plus_two),
            )
        )
    again = jobs.require_job(url, job.id)
    noon = datetime(2024, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert again.finished_at == noon and again.enqueued_at == noon


def test_reconcile_plan_ages_heartbeats_on_every_backend(url):
    queue = f"q-{uuid.uuid4().hex[:8]}"
    fresh, stale = _running_job(url, queue), _running_job(url, queue)
    with session_scope(url) as s:
        old = utcnow() - timedelta(seconds=600)
        s.execute(update(Job).where(Job.id == stale.id).values(heartbeat_at=old))
    plan = jobs.plan_reconcile(url, queue, {"t1"}, 60, 30, 3, lambda: "new")
    assert plan.stale == [stale.id] and fresh.id not in plan.stale
    assert jobs.claim(url, fresh.id, "t2", "b", "1", 60, 3).reason == "busy"  # fresh heartbeat


def test_status_shows_a_heartbeating_job_on_the_default_sqlite_store(tmp_path):
    home = tmp_path / "home"
    url = f"sqlite:///{home / 'skipbench.db'}"  # what the CLI uses when nothing is set
    upgrade(url)
    job = _running_job(url, "default")
    env = {"SKIPBENCH_HOME": str(home), "COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    base = [sys.executable, "-c", "from cli.main import main; main()", "status"]
    for args in ([], [str(job.id)], [str(job.id), "--json"]):
        out = subprocess.run(
            base + args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert "Traceback" not in out.stderr and "running" in out.stdout
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["heartbeat_at"].endswith("+00:00")
