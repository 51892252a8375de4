"""One job's life inside a worker child: claim, heartbeat, run (resuming), finish.

The child re-reads the job from the store (the message carries only its id). While the job
runs, a heartbeat thread refreshes ``heartbeat_at`` and the progress, and notices when the job
was cancelled or taken over; the next progress report then stops the run, and if none comes
the thread ends the process (the job's message is then acknowledged by the store's verdict).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import traceback
from dataclasses import dataclass

from db import jobs
from db.engine import upgrade
from skipbench.errors import InvalidInput
from skipbench.settings import Settings

log = logging.getLogger("skipbench.worker")


class JobStopped(BaseException):
    """Raised in the job's thread when the store says the job is no longer ours to run."""


@dataclass
class Outcome:
    status: str  # succeeded, failed, skipped:<reason>, stopped:<reason>
    run_id: int | None = None
    error: str | None = None


def worker_gpu() -> str:
    return os.environ.get("SKIPBENCH_WORKER_GPU") or os.environ.get("CUDA_VISIBLE_DEVICES") or "cpu"


def describe_error(exc: BaseException) -> str:
    """A readable message: one summary line first, then (for bugs) the traceback's tail."""
    name = type(exc).__name__
    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, InvalidInput):
        return f"invalid job: {first}"
    text = str(exc).lower()
    if "outofmemory" in name.lower() or "out of memory" in text or isinstance(exc, MemoryError):
        detail = first if len(first) <= 200 else first[:200] + "..."
        return f"out of memory on GPU {worker_gpu()}: {detail or name} (try a smaller batch size or a larger GPU)"
    if name == "SoftTimeLimitExceeded":
        return "time limit: the job ran past its soft time limit and was stopped"
    tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
    return f"{name}: {first}\n{tail[-3000:]}"


class Heartbeat:
    """Background heartbeat + progress for one owned job; ``progress`` is the runner's callback."""

    def __init__(self, url: str, job_id: int, task_id: str, interval_s: float) -> None:
        self.url, self.job_id, self.task_id = url, job_id, task_id
        self.interval_s = max(0.1, interval_s)
        self.stop_reason: str | None = None
        self._what: str | None = None
        self._fraction: float | None = None
        self._last_report = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="skipbench-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=self.interval_s + 5)

    def progress(self, what: str, fraction: float) -> None:
        if self.stop_reason is not None:
            raise JobStopped(self.stop_reason)
        self._what, self._fraction = what, float(fraction)
        self._last_report = time.monotonic()

    def _loop(self) -> None:
        stop_seen: float | None = None
        while not self._done.wait(self.interval_s):
            try:
                state = jobs.heartbeat(
                    self.url, self.job_id, self.task_id, self._what, self._fraction
                )
            except Exception as exc:  # the database may blink; the next beat retries
                log.warning("job %s: heartbeat failed: %s", self.job_id, exc)
                continue
            if state == "ok":
                continue
            if self.stop_reason is None:
                log.warning("job %s: %s in the store; stopping", self.job_id, state)
                self.stop_reason = state
                stop_seen = time.monotonic()
            elif stop_seen is not None and time.monotonic() - stop_seen > 3 * self.interval_s + 5:
                # no progress report came to stop the run: end this child (one job per child)
                log.warning("job %s: still running after stop; ending the process", self.job_id)
                os.kill(os.getpid(), signal.SIGKILL)


def run_job(job_id: int, task_id: str, settings: Settings) -> Outcome:
    """Run job ``job_id`` for message ``task_id``; never raises for a job's own failure."""
    from harness.runner import RunSpec, execute

    url = settings.db_url
    upgrade(url)
    claim = jobs.claim(
        url,
        job_id,
        task_id,
        socket.gethostname(),
        worker_gpu(),
        settings.heartbeat_stale_s,
        settings.job_max_attempts,
    )
    if not claim.ok:
        log.info("job %s: not run (%s)", job_id, claim.reason)
        return Outcome(f"skipped:{claim.reason}")
    assert claim.job is not None
    log.info("job %s: %s (attempt %s)", job_id, claim.reason, claim.job.attempts)
    from db.store import Store, SuiteAlreadyStored

    try:
        spec = RunSpec.from_dict(claim.job.spec)
        store = Store(url)
        with Heartbeat(url, job_id, task_id, settings.heartbeat_interval_s) as beat:
            record = execute(
                spec, store, beat.progress, job_id=job_id, resume_run_id=claim.resume_run_id
            )
    except JobStopped as stop:
        return Outcome(f"stopped:{stop}")
    except SuiteAlreadyStored as exc:
        # another execution stored this suite: it owns the job now, unless the store says otherwise
        state = jobs.heartbeat(url, job_id, task_id)
        if state != "ok":
            return Outcome(f"stopped:{state}")
        error = describe_error(exc)
        jobs.finish(url, job_id, task_id, "failed", error=error)
        return Outcome("failed", error=error)
    except Exception as exc:
        error = describe_error(exc)
        log.warning("job %s failed: %s", job_id, error.splitlines()[0])
        jobs.finish(url, job_id, task_id, "failed", error=error)
        return Outcome("failed", error=error)
    run_id = record.get("run_id")
    if not jobs.finish(url, job_id, task_id, "succeeded", run_id=run_id):
        log.warning("job %s: finished, but the store no longer has it as ours", job_id)
    return Outcome("succeeded", run_id=run_id)
