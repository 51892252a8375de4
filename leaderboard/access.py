"""The app's one cached, read-only engine and its cached queries (short TTL).

New results appear within ``TTL_S`` seconds; the queue refreshes faster. Every loader takes
the URL as an argument so a changed ``SKIPBENCH_DATABASE_URL`` gets its own cache entries.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from db import queries
from db.engine import get_engine
from leaderboard import frames
from skipbench.settings import get_settings

TTL_S = 10
JOBS_TTL_S = 2


def database_url() -> str:
    """The leaderboard's own URL (a read-only role, SKIPBENCH_LEADERBOARD_DATABASE_URL), else
    the store's."""
    return get_settings().leaderboard_db_url


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    """Sessions on this engine are read-only too (a second guard besides the role)."""
    return get_engine(url, read_only=True)


def _ready(url: str) -> Engine | None:
    """The engine, or None while the store does not exist yet (nothing is created)."""
    if queries.sqlite_file_missing(url):
        return None
    eng = engine(url)
    return eng if queries.has_schema(eng) else None


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_runs(url: str) -> pd.DataFrame:
    eng = _ready(url)
    return frames.runs_frame(queries.runs(eng) if eng is not None else [])


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_results(url: str) -> pd.DataFrame:
    """Every stored result (all run statuses) plus the derived speedups over dense."""
    eng = _ready(url)
    results = frames.results_frame(queries.results(eng) if eng is not None else [])
    return frames.with_speedup(results, load_runs(url))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_artifacts(url: str, run_id: int) -> list[dict[str, Any]]:
    eng = _ready(url)
    return queries.artifacts(eng, run_id) if eng is not None else []


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_artifact_index(url: str) -> pd.DataFrame:
    eng = _ready(url)
    rows = queries.artifact_names(eng) if eng is not None else []
    return pd.DataFrame(rows, columns=["run_id", "suite", "name"])


@st.cache_data(ttl=JOBS_TTL_S, show_spinner=False)
def load_jobs(url: str) -> pd.DataFrame:
    eng = _ready(url)
    rows = queries.jobs(eng) if eng is not None else []
    return pd.DataFrame(rows, columns=list(queries.JOB_COLUMNS))
