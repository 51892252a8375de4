"""Fixtures for the service tests: real PostgreSQL and Redis on 127.0.0.1, real worker processes.

Each fixture uses its own queue name and a Redis database number of its own choosing, so
parallel runs by other developers do not see each other's messages. Settings are passed
explicitly (never through this process's environment) so module-scoped workers are safe.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("SKIPBENCH_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def redis_ok(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception:
        return False


@dataclass
class WorkerProc:
    popen: subprocess.Popen
    log: Path

    def wait_ready(self, timeout: float = 180) -> WorkerProc:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log.read_text(errors="replace"):
                return self
            if self.popen.poll() is not None:
                raise AssertionError(f"worker exited with {self.popen.returncode}:\n{self.tail()}")
            time.sleep(0.3)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.tail()}")

    def wait_log(self, needle: str, timeout: float = 120) -> None:
        """Until the worker's log contains ``needle`` (the worker reached that point)."""
        deadline = time.monotonic() + timeout
        while needle not in self.log.read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise AssertionError(f"worker never logged {needle!r}:\n{self.tail()}")
            time.sleep(0.2)

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def children(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.popen.pid)], capture_output=True, text=True
        ).stdout
        return [int(p) for p in out.split()]

    def kill9(self, group: bool = True) -> None:
        """kill -9 the worker: its whole process group, or only the parent (the job child must
        then die with it)."""
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(self.popen.pid, signal.SIGKILL)
            else:
                os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=20)
            except ProcessLookupError:
                pass


@dataclass
class Service:
    """One isolated service: database, broker database number, queue, worker processes."""

    db_url: str
    broker_url: str
    queue: str
    tmp: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: list[WorkerProc] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SKIPBENCH_")
            or k in ("SKIPBENCH_SHARED_DIR", "SKIPBENCH_MODEL_CACHE")
        }
        env.update(
            SKIPBENCH_HOME=str(self.tmp / "home"),
            SKIPBENCH_DATABASE_URL=self.db_url,
            SKIPBENCH_BROKER_URL=self.broker_url,
            SKIPBENCH_RESULT_BACKEND=self.broker_url,
            SKIPBENCH_QUEUE=self.queue,
            SKIPBENCH_HEARTBEAT_INTERVAL_S="0.5",
            SKIPBENCH_HEARTBEAT_STALE_S="10",
            SKIPBENCH_RECONCILE_INTERVAL_S="2",
            SKIPBENCH_ENQUEUE_GRACE_S="1",
            SKIPBENCH_STORE_CHECK_INTERVAL_S="0.5",
            SKIPBENCH_PLUGINS="tests.workers.plugin",
            PYTHONUNBUFFERED="1",
            COLUMNS="200",
        )
        env.update(self.extra_env)
        return env

    def settings(self):  # noqa: ANN201
        from skipbench.settings import Settings

        env = self.env()
        return Settings(
            _env_file=None,
            home=env["SKIPBENCH_HOME"],
            database_url=self.db_url,
            broker_url=self.broker_url,
            result_backend=self.broker_url,
            queue=self.queue,
            heartbeat_interval_s=0.5,
            heartbeat_stale_s=10,
            reconcile_interval_s=2,
            enqueue_grace_s=1,
            store_check_interval_s=0.5,
            plugins="tests.workers.plugin",
        )

    def start_worker(self, wait: bool = True) -> WorkerProc:
        log = self.tmp / f"worker-{len(self.workers)}.log"
        with open(log, "w") as fh:  # the worker keeps its own copy of the descriptor
            popen = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from cli.main import main; main()",
                    "worker",
                    "--cpu",
                ],
                cwd=REPO,
                env=self.env(),
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = WorkerProc(popen, log)
        self.workers.append(proc)
        return proc.wait_ready() if wait else proc

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", "from cli.main import main; main()", *args],
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def submit(self, spec, force: bool = False, **limits: float):  # noqa: ANN001, ANN201
        from workers.service import submit

        return submit(spec, force=force, settings=self.settings(), **limits)

    def job(self, job_id: int):  # noqa: ANN201
        from db.jobs import require_job

        return require_job(self.db_url, job_id)

    def wait_for(
        self, job_id: int, statuses=("succeeded", "failed", "cancelled"), timeout: float = 240
    ):  # noqa: ANN001, ANN201
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job.status in statuses:
                return job
            time.sleep(0.3)
        logs = "\n".join(w.tail() for w in self.workers)
        raise AssertionError(
            f"job {job_id} still {self.job(job_id).status} after {timeout}s\n{logs}"
        )

    def close(self) -> None:
        import redis

        for worker in self.workers:
            worker.stop()
        with contextlib.suppress(Exception):  # leave nothing behind in the shared Redis
            redis.Redis.from_url(self.broker_url, socket_connect_timeout=2).delete(self.queue)


def make_service(pg_url: str, tmp: Path, broker_base: str = REDIS_URL) -> Service:
    if not redis_ok(broker_base):
        pytest.skip(f"Redis not reachable at {broker_base}")
    from db.engine import upgrade

    upgrade(pg_url)
    db_number = random.randint(2, 15)
    queue = f"skipbench-test-{uuid.uuid4().hex[:10]}"
    return Service(pg_url, f"{broker_base}/{db_number}", queue, tmp)


@pytest.fixture
def service(pg_url, tmp_path):
    svc = make_service(pg_url, tmp_path)
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def module_service(pg_url, tmp_path_factory):
    svc = make_service(pg_url, tmp_path_factory.mktemp("service"))
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    from tests.tiny import save_tiny_model_dir

    return save_tiny_model_dir(tmp_path_factory.mktemp("tiny") / "tiny-llama")


def tiny_spec(
    model_dir: Path, *suites, method: str = "dense", params: dict | None = None, seed: int = 0
):  # noqa: ANN002, ANN201
    """A RunSpec on the tiny model, CPU; default suite: perplexity on 2 windows of 32 tokens."""
    from harness.models import ModelSpec
    from harness.runner import RunSpec, SuiteSpec

    chosen = suites or (SuiteSpec("perplexity", {"limit": 2, "seq_len": 32}),)
    return RunSpec(
        model=ModelSpec(source=str(model_dir), device="cpu"),
        method=method,
        method_params=params or {},
        suites=tuple(chosen),
        seed=seed,
    )
