"""One job's life inside a worker child: claim, heartbeat, run (resuming), finish.

The child re-reads the job from the store (the message carries only its id). While the job
runs, a heartbeat thread refreshes ``heartbeat_at`` and the progress, and notices when the job
was cancelled or taken over; the next progress report then stops the run, and if none comes
the thread ends the process (the job's message is then acknowledged by the store's verdict).
Each progress report also checks the job's own time limit (counted from its first report,
so process start and model loading do not count); Celery's hard limit is the backstop.

A store that cannot be reached is never the job's failure: ``StoreUnreachable`` propagates
and the task puts the message back on the queue.
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
from workers.job_placement import placed
from workers.run_closing import close_job_runs, close_runs_of_this_process, stop_reason
from workers.store_retry import JobStore, StoreUnreachable, is_unreachable, with_retries

log = logging.getLogger("skipbench.worker")


class JobStopped(BaseException):
    """Raised in the job's thread when the store says the job is no longer ours to run."""


class JobTimeLimit(BaseException):
    """Raised at a progress report past the job's time limit (a BaseException, so a method's
    ``except Exception`` cannot swallow it; once passed, every later report raises again)."""

    def __init__(self, limit_s: float) -> None:
        super().__init__(f"ran past its time limit of {limit_s:g} s")
        self.limit_s = limit_s


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
    if isinstance(exc, JobTimeLimit):
        return f"time limit: the job ran past its time limit of {exc.limit_s:g} s and was stopped"
    if name == "SoftTimeLimitExceeded":
        return "time limit: the job ran past its soft time limit and was stopped"
    if isinstance(exc, SystemExit | KeyboardInterrupt):
        what = f"SystemExit({exc.code!r})" if isinstance(exc, SystemExit) else name
        tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
        return f"{name}: the job's code raised {what}; the job failed (not retried)\n{tail[-3000:]}"
    tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
    return f"{name}: {first}\n{tail[-3000:]}"


class Heartbeat:
    """Background heartbeat + progress for one owned job; ``progress`` is the runner's callback."""

    def __init__(
        self,
        url: str,
        job_id: int,
        task_id: str,
        interval_s: float,
        time_limit_s: float | None = None,
    ) -> None:
        self.url, self.job_id, self.task_id = url, job_id, task_id
        self.interval_s = max(0.1, interval_s)
        self.time_limit_s = time_limit_s
        self._deadline: float | None = None  # set at the first progress report
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
        now = time.monotonic()
        if self.time_limit_s is not None:
            if self._deadline is None:
                self._deadline = now + self.time_limit_s
            elif now > self._deadline:
                raise JobTimeLimit(self.time_limit_s)
        self._what, self._fraction = what, float(fraction)
        self._last_report = now

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
                # no progress report came to stop the run: end this child (one job per child),
                # closing the run it runs first (a run another worker resumed is left alone)
                log.warning("job %s: still running after stop; ending the process", self.job_id)
                close_runs_of_this_process(self.url, self.job_id, stop_reason(self.stop_reason))
                os.kill(os.getpid(), signal.SIGKILL)


def refusal(spec: dict, settings: Settings) -> str | None:
    """Why this worker will not run a job at all (before anything is loaded), or None."""
    model = spec.get("model") or {}
    if model.get("trust_remote_code") and not settings.worker_allow_remote_code:
        return (
            "refused: the job asks for trust_remote_code (code from the model's repository would "
            "run on this worker); allow it per worker with SKIPBENCH_WORKER_ALLOW_REMOTE_CODE=true"
        )
    return None


def _claim(url: str, job_id: int, task_id: str, settings: Settings) -> jobs.Claim:
    def attempt() -> jobs.Claim:
        upgrade(url)
        return jobs.claim(
            url,
            job_id,
            task_id,
            socket.gethostname(),
            worker_gpu(),
            settings.heartbeat_stale_s,
            settings.job_max_attempts,
        )

    try:  # only a short wait: the parent stops taking jobs while the store is away
        return with_retries(attempt, f"job {job_id}: claim", min(5.0, settings.store_retry_s))
    except Exception as exc:
        if is_unreachable(exc):
            raise StoreUnreachable(f"job {job_id}: store unreachable at claim: {exc}") from exc
        raise


def _finish(url: str, job_id: int, task_id: str, settings: Settings, status: str, **kw) -> bool:
    """The job's final write, retried across a short outage before the attempt is given up."""
    try:
        return with_retries(
            lambda: jobs.finish(url, job_id, task_id, status, **kw),
            f"job {job_id}: finish",
            settings.store_retry_s,
        )
    except Exception as exc:
        if is_unreachable(exc):
            raise StoreUnreachable(f"job {job_id}: store unreachable at finish: {exc}") from exc
        raise


def run_job(job_id: int, task_id: str, settings: Settings) -> Outcome:
    """Run job ``job_id`` for message ``task_id``; never raises for a job's own failure.

    Raises ``StoreUnreachable`` when the store cannot be reached to claim or record the job.
    """
    from harness.runner import RunSpec, execute

    url = settings.db_url
    claim = _claim(url, job_id, task_id, settings)
    if not claim.ok:
        log.info("job %s: not run (%s)", job_id, claim.reason)
        if claim.reason == "gave_up" and claim.job is not None:  # its runs end with it
            close_job_runs(url, job_id, claim.job.error or "gave up", settings.store_retry_s)
        return Outcome(f"skipped:{claim.reason}")
    assert claim.job is not None
    job = claim.job
    log.info("job %s: %s (attempt %s)", job_id, claim.reason, job.attempts)
    from db.store import SuiteAlreadyStored

    def finish(status: str, **kw: object) -> bool:
        done = _finish(url, job_id, task_id, settings, status, **kw)
        if done and status == "failed":  # runs an earlier attempt left running end with it
            close_job_runs(url, job_id, str(kw.get("error") or "failed"), settings.store_retry_s)
        return done

    refused = refusal(job.spec or {}, settings)
    if refused:
        log.warning("job %s %s", job_id, refused)
        finish("failed", error=refused)
        return Outcome("failed", error=refused)
    limit = job.soft_time_limit_s or settings.job_soft_time_limit_s
    try:
        spec = RunSpec.from_dict(job.spec)
        store = JobStore(url, settings.store_retry_s)
        with (
            Heartbeat(url, job_id, task_id, settings.heartbeat_interval_s, limit) as beat,
            placed(job.queue),  # a group worker spreads the model over its GPUs
        ):
            record = execute(
                spec, store, beat.progress, job_id=job_id, resume_run_id=claim.resume_run_id
            )
    except JobStopped as stop:
        with_retries(lambda: jobs.link_latest_run(url, job_id), "link run", settings.store_retry_s)
        return Outcome(f"stopped:{stop}")
    except SuiteAlreadyStored as exc:
        # another execution stored this suite: it owns the job now, unless the store says otherwise
        state = jobs.heartbeat(url, job_id, task_id)
        if state != "ok":
            return Outcome(f"stopped:{state}")
        error = describe_error(exc)
        finish("failed", error=error)
        return Outcome("failed", error=error)
    except (Exception, JobTimeLimit, SystemExit, KeyboardInterrupt) as exc:
        if is_unreachable(exc):
            raise StoreUnreachable(f"job {job_id}: store unreachable: {exc}") from exc
        error = describe_error(exc)
        log.warning("job %s failed: %s", job_id, error.splitlines()[0])
        finish("failed", error=error)
        return Outcome("failed", error=error)
    run_id = record.get("run_id")
    if not finish("succeeded", run_id=run_id):
        log.warning("job %s: finished, but the store no longer has it as ours", job_id)
    return Outcome("succeeded", run_id=run_id)
