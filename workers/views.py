"""Rich renderings of jobs for ``skipbench status``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table

from db.models import Job, Run, utcnow

_STYLE = {
    "queued": "yellow",
    "running": "cyan",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
}


def _ago(when: datetime | None) -> str:
    if when is None:
        return ""
    seconds = int((utcnow() - when).total_seconds())
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def _progress(job: Job) -> str:
    if job.status == "succeeded":
        return "done"
    if job.progress_suite is None or job.progress_fraction is None:
        return ""
    return f"{job.progress_suite} {job.progress_fraction:.0%}"


def _limits(job: Job) -> str:
    soft, hard = job.soft_time_limit_s, job.hard_time_limit_s
    if soft is None and hard is None:
        return "the worker's defaults"

    def fmt(value: float | None) -> str:
        return "default" if value is None else f"{value:g} s"

    return f"{fmt(soft)} (checked at progress reports), hard {fmt(hard)}"


def _what(spec: dict[str, Any]) -> tuple[str, str, str]:
    model = str((spec.get("model") or {}).get("source", ""))
    params = spec.get("method_params") or {}
    method = spec.get("method", "") + (f" {params}" if params else "")
    suites = ",".join(s.get("name", "") for s in spec.get("suites", []))
    return model, method, suites


def jobs_table(jobs: list[Job], waiting: dict[int, str] | None = None) -> Table:
    """``waiting``: job id -> why no worker seen so far can take it (``service.waiting_reasons``)."""
    waiting = waiting or {}
    table = Table(title="SkipBench jobs")
    for name in (
        "job",
        "status",
        "model",
        "method",
        "suites",
        "progress",
        "worker",
        "updated",
        "error",
    ):
        table.add_column(name, overflow="fold")
    for job in jobs:
        model, method, suites = _what(job.spec or {})
        worker = f"{job.worker_host} gpu {job.worker_gpu}" if job.worker_host else ""
        updated = job.finished_at or job.heartbeat_at or job.created_at
        error = (job.error or "").splitlines()[0][:80] if job.error else ""
        table.add_row(
            str(job.id),
            f"[{_STYLE.get(job.status, '')}]{job.status}[/]"
            + (f"\n{waiting[job.id]}" if job.id in waiting else ""),
            model,
            method,
            suites,
            _progress(job),
            worker,
            _ago(updated),
            error,
        )
    if not jobs:
        table.caption = "no jobs yet; queue one with: skipbench submit --model <model> ..."
    return table


def job_detail(job: Job, runs: list[Run], waiting: str | None = None) -> Table:
    model, method, suites = _what(job.spec or {})
    table = Table(title=f"job {job.id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    rows = [
        ("status", f"[{_STYLE.get(job.status, '')}]{job.status}[/]"),
        ("model", model),
        ("method", method),
        ("suites", suites),
        ("key", f"{job.key} (generation {job.generation})"),
        ("queue", job.queue),
        *([("waiting", waiting)] if waiting else []),
        ("created", str(job.created_at)),
        ("started", str(job.started_at or "")),
        ("finished", str(job.finished_at or "")),
        ("heartbeat", f"{job.heartbeat_at or ''} {_ago(job.heartbeat_at)}"),
        ("worker", f"{job.worker_host or ''} GPU {job.worker_gpu or ''}"),
        ("progress", _progress(job)),
        ("attempts", str(job.attempts)),
        ("time limits", _limits(job)),
        ("runs", ", ".join(f"{r.id} ({r.status})" for r in runs)),
        ("error", job.error or ""),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table
