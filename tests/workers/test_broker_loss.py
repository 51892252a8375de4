"""Broker loss: Redis dies with jobs queued and comes back empty; reconcile re-sends them.

Uses a private redis-server on a free port (no persistence) so the kill disturbs no one else.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.workers.conftest import make_service, redis_ok, tiny_spec

pytestmark = pytest.mark.timeout(420)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    def __init__(self, port: int, workdir: Path) -> None:
        self.port, self.workdir, self.proc = port, workdir, None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not redis_ok(self.url):
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed")
    redis = PrivateRedis(_free_port(), tmp_path)
    redis.start()
    yield redis
    redis.kill()


def test_redis_restart_empty_then_reconcile_completes_every_job(
    pg_url, tmp_path, private_redis, tiny_dir
):
    from harness.runner import SuiteSpec
    from workers.broker import queue_length

    svc = make_service(pg_url, tmp_path, private_redis.url)
    svc.extra_env["SKIPBENCH_RECONCILE_INTERVAL_S"] = "0"  # only at start: the CLI does the work
    try:
        svc.start_worker()
        release = tmp_path / "release"
        blocker = svc.submit(
            tiny_spec(tiny_dir, SuiteSpec("sleepy", {"seconds": 300, "release": str(release)}))
        )
        svc.wait_for(blocker.job.id, ("running",))
        markers = [tmp_path / f"queued-{i}" for i in range(3)]
        queued = [
            svc.submit(
                tiny_spec(tiny_dir, SuiteSpec("sleepy", {"seconds": 0.2, "marker": str(m)}))
            ).job.id
            for m in markers
        ]
        assert queue_length(svc.broker_url, svc.queue) == 3

        private_redis.kill()  # every queued message is gone with it
        private_redis.start()
        assert queue_length(svc.broker_url, svc.queue) == 0
        assert {svc.job(j).status for j in queued} == {"queued"}
        release.touch()
        assert (
            svc.wait_for(blocker.job.id).status == "succeeded"
        )  # the running job never needed Redis

        time.sleep(1.5)  # past the enqueue grace (1 s in tests)
        out = svc.cli("queue", "reconcile", "--json")
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout.strip().splitlines()[-1])
        assert sorted(report["lost"]) == sorted(queued) and report["stale"] == []
        for job_id in queued:
            assert svc.wait_for(job_id).status == "succeeded"
        assert [len(m.read_text().split()) for m in markers] == [1, 1, 1]  # each ran exactly once
        again = json.loads(svc.cli("queue", "reconcile", "--json").stdout.strip().splitlines()[-1])
        assert again["lost"] == [] and again["sent"] == []
        print(
            f"\nEVIDENCE broker loss: {len(queued) + 1} jobs submitted, 1 Redis restart (empty), "
            f"{len(report['lost'])} re-sent by reconcile, {len(queued) + 1} completed, each once"
        )
    finally:
        svc.close()
