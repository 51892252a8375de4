"""Page 5, the queue: jobs by status, refreshed live by a fragment that reruns on a timer."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pandas as pd
import streamlit as st

from leaderboard import access, widgets

REFRESH_S = 3
STATUSES = ("running", "queued", "failed", "succeeded", "cancelled")


def describe(spec: Any) -> str:
    """``smollm2 · shortgpt {sparsity: 0.2} · perplexity+zeroshot`` from a job's RunSpec dict."""
    if not isinstance(spec, dict):
        return ""
    model = (spec.get("model") or {}).get("source", "?")
    params = spec.get("method_params") or {}
    suites = "+".join(s.get("name", "?") for s in spec.get("suites") or [])
    args = " ".join(f"{k}={v}" for k, v in params.items())
    return f"{model} · {spec.get('method', '?')}{(' ' + args) if args else ''} · {suites}"


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
            "Run": jobs["run_id"],
            "Created": [_age(t) for t in jobs["created_at"]],
            "Finished": [_age(t) for t in jobs["finished_at"]],
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
        fraction = float(job.progress_fraction or 0.0)
        st.markdown(f"**Job {job.id}** · {describe(job.spec)}  \nworker {job.worker_host or '-'} "
                    f"{'(' + job.worker_gpu + ')' if job.worker_gpu else ''} · heartbeat {_age(job.heartbeat_at)}")  # fmt: skip
        st.progress(
            min(max(fraction, 0.0), 1.0), text=f"{job.progress_suite or 'starting'}: {fraction:.0%}"
        )
    queued = jobs[jobs["status"] == "queued"].sort_values("id")
    st.subheader(f"Queued ({len(queued)})")
    if not queued.empty:
        st.dataframe(_table(queued), hide_index=True, key="q_queued", placeholder="-")
    failed = jobs[jobs["status"] == "failed"]
    st.subheader(f"Failed ({len(failed)})")
    for job in failed.itertuples():
        with st.expander(f"Job {job.id} · {describe(job.spec)}", expanded=True):
            st.code(job.error or "(no error text stored)", language=None)
            st.caption(f"worker {job.worker_host or '-'} · attempts {job.attempts} · run {_int(job.run_id)} "
                       f"· stopped at {job.progress_suite or '-'} ({float(job.progress_fraction or 0):.0%})")  # fmt: skip
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
