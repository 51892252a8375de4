"""Page 5, the queue: jobs by status, refreshed live by a fragment that reruns on a timer."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import streamlit as st

from leaderboard import access, widgets

REFRESH_S = 3
STATUSES = ("running", "queued", "failed", "succeeded", "cancelled")


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def describe(spec: Any) -> str:
    """``smollm2 · shortgpt sparsity=0.2 · perplexity (limit 8) + zeroshot · device cuda``
    from a job's RunSpec dict: what, on which device, how much data."""
    if not isinstance(spec, dict):
        return ""
    model = spec.get("model") or {}
    params = spec.get("method_params") or {}
    suites = []
    for suite in spec.get("suites") or []:
        limit = (suite.get("params") or {}).get("limit")
        suites.append(suite.get("name", "?") + (f" (limit {limit})" if _given(limit) else ""))
    args = " ".join(f"{k}={v}" for k, v in params.items())
    device = model.get("device") or "auto"
    return (
        f"{model.get('source', '?')} · {spec.get('method', '?')}{(' ' + args) if args else ''} · "
        f"{' + '.join(suites) or 'no suite'} · device {device}"
    )


def progress_text(suite: Any, fraction: Any) -> str:
    """``zeroshot: 45%``; ``starting`` before the first report (never ``nan``)."""
    if not _given(suite) or not suite:
        return "starting" if not _given(fraction) else f"{float(fraction):.0%}"
    return f"{suite}: {float(fraction):.0%}" if _given(fraction) else str(suite)


def elapsed(start: Any, end: Any = None) -> str:
    """``12 min`` from ``start`` to ``end`` (now when None); ``-`` without a start."""
    if not _given(start) or pd.isna(start):
        return "-"
    a = _utc(start)
    b = _utc(end) if _given(end) and not pd.isna(end) else datetime.now(timezone.utc)
    seconds = max(0.0, (b - a).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _utc(ts: Any) -> datetime:
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(timezone.utc)
    return stamp.to_pydatetime()


def _age(ts: Any) -> str:
    if ts is None or pd.isna(ts):
        return "-"
    ts = pd.Timestamp(ts)
    if ts.tzinfo is None:
        ts = ts.tz_localize(timezone.utc)
    seconds = (datetime.now(timezone.utc) - ts.to_pydatetime()).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h ago"
    return ts.strftime("%Y-%m-%d %H:%M UTC")


def _int(value: Any) -> str:
    return "-" if value is None or pd.isna(value) else str(int(value))


def _table(jobs: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Job": jobs["id"],
            "What": [describe(s) for s in jobs["spec"]],
            "Queue": jobs["queue"],
            "Worker": jobs["worker_host"],
            "Attempts": jobs["attempts"],
            "Run": [_int(r) for r in jobs["run_id"]],
            "Created": [_age(t) for t in jobs["created_at"]],
            "Finished": [_age(t) for t in jobs["finished_at"]],
            "Took": [
                elapsed(a, b) if _given(b) else "-"
                for a, b in zip(jobs["started_at"], jobs["finished_at"])
            ],
        }  # fmt: skip
    )


def jobs_view() -> None:
    url = access.database_url()
    jobs = access.load_jobs(url)
    if jobs.empty:
        st.info("No jobs: the queue is empty. Submit one with `skipbench submit ...` (the service) "
                "or run directly with `skipbench run ...`.")  # fmt: skip
        return
    counts = jobs["status"].value_counts()
    for col, status in zip(st.columns(len(STATUSES)), STATUSES):
        col.metric(status.capitalize(), int(counts.get(status, 0)))
    running = jobs[jobs["status"] == "running"]
    st.subheader(f"Running ({len(running)})")
    for job in running.itertuples():
        fraction = float(job.progress_fraction) if _given(job.progress_fraction) else 0.0
        gpu = f" ({job.worker_gpu})" if _given(job.worker_gpu) and job.worker_gpu else ""
        st.markdown(
            f"**Job {job.id}** · run {_int(job.run_id)} · {describe(job.spec)}  \n"
            f"worker {job.worker_host or '-'}{gpu} · running for {elapsed(job.started_at)} · "
            f"heartbeat {_age(job.heartbeat_at)}"
        )
        st.progress(
            min(max(fraction, 0.0), 1.0),
            text=progress_text(job.progress_suite, job.progress_fraction),
        )
    queued = jobs[jobs["status"] == "queued"].sort_values("id")
    st.subheader(f"Queued ({len(queued)})")
    if not queued.empty:
        st.dataframe(_table(queued), hide_index=True, key="q_queued", placeholder="-")
    failed = jobs[jobs["status"] == "failed"]
    st.subheader(f"Failed ({len(failed)})")
    for job in failed.itertuples():
        with st.expander(f"Job {job.id} · {describe(job.spec)}", expanded=True):
            st.code(job.error or "(no error text stored)", language=None, wrap_lines=True)
            where = (
                f" · stopped at {progress_text(job.progress_suite, job.progress_fraction)}"
                if _given(job.progress_suite) and job.progress_suite
                else " · stopped before the first suite"
            )
            st.caption(
                f"worker {job.worker_host or '-'} · attempts {job.attempts} · run {_int(job.run_id)}"
                f" · ran {elapsed(job.started_at, job.finished_at)}{where}"
            )
    done = jobs[jobs["status"].isin(["succeeded", "cancelled"])]
    st.subheader(f"Finished ({len(done)})")
    if not done.empty:
        st.dataframe(
            _table(done).assign(Status=list(done["status"])), hide_index=True, key="q_done"
        )
    st.caption(f"Updated {datetime.now().strftime('%H:%M:%S')} from {widgets.redact(url)}")


def render() -> None:
    st.title("Queue")
    live = st.toggle(
        "Live refresh", value=True, key="q_live", help=f"rerun this section every {REFRESH_S} s"
    )
    st.fragment(run_every=REFRESH_S if live else None)(jobs_view)()
