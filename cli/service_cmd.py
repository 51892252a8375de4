"""The service commands: ``submit``, ``worker``, ``status``, ``cancel``, ``retry``, ``queue reconcile``.

Jobs live in the store (``db.jobs``); the broker carries only job ids. Heavy modules (celery,
torch) are imported inside the commands.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer

from cli.common import ID_MAX, JobIdArg, console, err, ready_store_url
from cli.spec_options import SpecCommand, SpecOptions, spec_options

queue_app = typer.Typer(help="Queue maintenance.", no_args_is_help=True)

QueueOpt = Annotated[
    str | None, typer.Option("--queue", help="Celery queue (default: the queue setting)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON (last line)")]


def register(app: typer.Typer) -> None:
    app.command("submit", cls=SpecCommand)(submit)
    app.command("worker")(worker)
    app.command("status")(status)
    app.command("cancel")(cancel)
    app.command("retry")(retry)
    app.add_typer(queue_app, name="queue")


def _broker_down(message: str) -> None:
    err(
        f"error: {message}; start the broker (see docs/deploy.md) or run it here: skipbench run <same options>"
    )
    sys.exit(1)


@spec_options
def submit(
    options: SpecOptions,
    queue: QueueOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="run again even if this exact job exists")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="follow the job to its end with a progress bar")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="validate method and parameters here first")
    ] = True,
    time_limit: Annotated[
        float | None,
        typer.Option("--time-limit", help="seconds this job may run (default: the worker setting)"),
    ] = None,
    gpus_per_job: Annotated[
        int | None,
        typer.Option(
            "--gpus-per-job",
            help="GPUs the model is spread over (default: estimated from its config and the "
            "smallest GPU a worker reported)",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Queue an evaluation (same options as `run`) for the workers; same job twice = one job."""
    from workers import service
    from workers.broker import BrokerUnavailable
    from workers.plugins import load_plugins

    load_plugins()
    from harness.preflight import check_worker_device

    spec = options.to_spec()
    check_worker_device(spec.model.device)
    if check:  # methods installed only on the workers: --no-check
        from harness.runner import prepare

        prepare(spec)  # what needs no weights (a model path missing here may be on the workers)
    try:
        result = service.submit(
            spec, queue=queue, force=force, time_limit_s=time_limit, gpus_per_job=gpus_per_job
        )
    except BrokerUnavailable as exc:
        _broker_down(str(exc))
    job = result.job
    if result.created:
        console.print(
            f"job {job.id} queued on {job.queue!r} (key {job.key[:12]}, generation {job.generation})"
            + (f"; needs {result.sizing}" if result.sizing else "")
        )
    else:
        console.print(
            f"job {job.id} already exists ({job.status}) for this exact evaluation; "
            "--force runs it again"
            + (", `skipbench retry` re-queues it" if job.status in ("failed", "cancelled") else "")
        )
    final = _follow(job.id) if wait else job
    if as_json:
        print(json.dumps(service.job_summary(final), default=str))
    if wait and final.status != "succeeded":
        sys.exit(1)


def worker(
    gpus: Annotated[
        str | None, typer.Option("--gpus", help="GPU indices, e.g. 0,1 (default: all)")
    ] = None,
    gpu_groups: Annotated[
        str | None,
        typer.Option(
            "--gpu-groups",
            help="one worker per GPU group, e.g. 0+1,2+3: each job's model spread over its group",
        ),
    ] = None,
    max_memory_per_gpu: Annotated[
        str | None,
        typer.Option("--max-memory-per-gpu", help="cap per GPU of a group worker, e.g. 70GiB"),
    ] = None,
    cpu: Annotated[bool, typer.Option("--cpu", help="one worker on the CPU (no GPU)")] = False,
    queue: QueueOpt = None,
    loglevel: Annotated[str, typer.Option("--loglevel", help="debug, info, warning")] = "info",
) -> None:
    """Serve jobs: one worker process per GPU or GPU group (CUDA_VISIBLE_DEVICES pinned), one
    job at a time."""
    from skipbench.settings import get_settings
    from workers import launcher

    settings = get_settings()
    procs = launcher.plan(
        gpus, gpu_groups, cpu, queue or settings.queue, loglevel, max_memory_per_gpu
    )
    err(f"starting {len(procs)} worker(s): {', '.join(p.label for p in procs)}")
    err(launcher.announce(procs, settings.broker_url, max_memory_per_gpu))
    sys.exit(launcher.run(procs))


def status(
    job_id: Annotated[
        int | None, typer.Argument(help="one job's detail", min=1, max=ID_MAX)
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="refresh until the job ends (Ctrl-C stops)")
    ] = False,
    queue: QueueOpt = None,
    state: Annotated[
        str | None, typer.Option("--status", help="only jobs with this status")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="newest N jobs")] = 30,
    as_json: JsonOpt = False,
) -> None:
    """Table of jobs, or one job's detail with live progress."""
    from db import jobs
    from skipbench.settings import get_settings
    from workers import service
    from workers.views import job_detail, jobs_table

    settings = get_settings()
    url = settings.db_url
    _store_ready(url)
    if job_id is not None:
        if watch:
            _follow(job_id)
            return
        job = jobs.require_job(url, job_id)
        waiting = service.waiting_reasons([job], settings.broker_url).get(job.id)
        if as_json:
            print(json.dumps(service.job_summary(job, waiting), default=str))
        else:
            console.print(job_detail(job, jobs.job_runs(url, job_id), waiting))
        return
    if as_json:
        listed = jobs.list_jobs(url, queue, state, limit)
        waiting_by_id = service.waiting_reasons(listed, settings.broker_url)
        print(
            json.dumps(
                [service.job_summary(j, waiting_by_id.get(j.id)) for j in listed], default=str
            )
        )
        return

    def table():  # noqa: ANN202 -> rich Table
        listed = jobs.list_jobs(url, queue, state, limit)
        return jobs_table(listed, service.waiting_reasons(listed, settings.broker_url))

    if not watch:
        console.print(table())
        return
    from rich.live import Live

    with Live(jobs_table([]), console=console, refresh_per_second=2) as live:
        try:
            while True:
                live.update(table())
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass


def cancel(job_id: JobIdArg) -> None:
    """Queued: removed from the queue. Running: stopped on its worker. Both end `cancelled`."""
    from workers import service

    before, job = service.cancel(job_id)
    if before in ("queued", "running"):
        console.print(f"job {job_id} cancelled (was {before})")
    else:
        console.print(f"job {job_id} had already ended ({before}); nothing to cancel")


def retry(job_id: JobIdArg) -> None:
    """Queue a failed or cancelled job again; it resumes at its first suite not yet stored."""
    from workers import service
    from workers.broker import BrokerUnavailable

    try:
        job = service.retry(job_id)
    except BrokerUnavailable as exc:
        _broker_down(str(exc))
    console.print(f"job {job.id} queued again on {job.queue!r}")


@queue_app.command("reconcile")
def reconcile(queue: QueueOpt = None, as_json: JsonOpt = False) -> None:
    """Re-send queued jobs the broker lost, requeue running jobs whose heartbeat stopped, and
    close runs whose process on this host is gone (failed, resumable)."""
    from skipbench.settings import get_settings
    from workers.broker import BrokerUnavailable, ping
    from workers.reconcile import reconcile as do_reconcile

    settings = get_settings()
    try:
        ping(settings.broker_url)
        _store_ready(settings.db_url)
        report = do_reconcile(settings, queue)
    except BrokerUnavailable as exc:
        _broker_down(str(exc))
    console.print(report.summary())
    if as_json:
        print(
            json.dumps(
                {
                    "queue": report.queue,
                    "lost": report.lost,
                    "stale": report.stale,
                    "gave_up": report.gave_up,
                    "sent": report.sent,
                    "in_broker": report.in_broker,
                    "runs_closed": {str(k): v for k, v in report.runs_closed.items()},
                }
            )
        )


def _store_ready(url: str) -> None:
    """Migrated and answering, or one line (exit 2) naming the URL and the problem."""
    ready_store_url()


def _follow(job_id: int):  # noqa: ANN202 -> Job
    """Poll the store until the job ends; a progress bar per suite; prints the outcome."""
    from cli.common import err_console, progress_bars
    from db import jobs
    from skipbench.settings import get_settings

    url = get_settings().db_url
    shown = ""
    with progress_bars() as progress:
        while True:
            job = jobs.require_job(url, job_id)
            if job.status != shown:
                err_console.print(
                    f"job {job_id}: {job.status}"
                    + (
                        f" on {job.worker_host} GPU {job.worker_gpu}"
                        if job.status == "running"
                        else ""
                    )
                )
                shown = job.status
            if job.progress_suite and job.progress_fraction is not None:
                progress(job.progress_suite, job.progress_fraction)
            if job.status in jobs.TERMINAL:
                break
            time.sleep(1.0)
    if job.status == "succeeded" and job.run_id is not None:
        from cli.tables import print_runs
        from db.store import Store, run_to_dict

        store = Store(url)
        run = store.get_run(job.run_id)
        if run is not None:
            print_runs(
                [run_to_dict(run, store.results([run.id]))], title=f"job {job_id} / run {run.id}"
            )
    elif job.error:
        err(f"job {job_id} {job.status}: {job.error.splitlines()[0]}")
    return job
