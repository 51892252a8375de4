"""UI pieces shared by the pages: the empty-store page, run labels, number formats."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from leaderboard.columns import SPEEDUP, MetricColumn

FIRST_RESULT_COMMAND = (
    "skipbench models fetch smollm2-135m-instruct\n"
    "skipbench run --model smollm2-135m-instruct --method dense --suite perplexity --task wikitext2 --limit 8"
)


def require_runs(runs: pd.DataFrame, url: str) -> bool:
    """False (after drawing a friendly page) when the store holds no run yet."""
    if not runs.empty:
        return True
    st.info("No results yet: the store is empty.")
    st.markdown("Produce the first result (a few minutes on a CPU), then reload this page:")
    st.code(FIRST_RESULT_COMMAND, language="bash")
    st.caption(f"Reading {redact(url)} (set SKIPBENCH_DATABASE_URL to read another store).")
    return False


def redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def sparsity_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{float(value):.0%}"


def run_label(run: Any) -> str:
    """``#12 · smollm2-135m-instruct · shortgpt 20% · succeeded``."""
    return (
        f"#{int(run['id'])} · {run['model_id']} · {run['method_name']} "
        f"{sparsity_text(run['sparsity'])} · {run['status']}"
    )


def is_synthetic(provenance: Any) -> bool:
    return isinstance(provenance, dict) and bool(provenance.get("synthetic_demo"))


def number_format(col: MetricColumn, values: pd.Series, mode: str = "value") -> str:
    """printf-style format for one column: ``mode`` is value, delta or percent (change in %)."""
    if mode == "percent":
        return "%+.1f%%"
    sign = "+" if mode == "delta" else ""
    if col.is_fraction:
        return "percent" if mode == "value" else "%+.2f pp"
    if col.metric == SPEEDUP:
        return f"%{sign}.3f×"
    finite = pd.to_numeric(values, errors="coerce").abs().dropna()
    biggest = float(finite.max()) if not finite.empty else 0.0
    decimals = 1 if biggest >= 100 else 2 if biggest >= 1 else 4
    return f"%{sign}.{decimals}f"


def column_config(
    columns: list[MetricColumn], table: pd.DataFrame, mode: str = "value"
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "Run": st.column_config.NumberColumn(
            "Run", format="%d", help="run id (see Run detail)", pinned=True
        ),
        "Model": st.column_config.TextColumn("Model", pinned=True),
        "Method": st.column_config.TextColumn("Method", pinned=True),
        "Sparsity": st.column_config.NumberColumn(
            "Sparsity", format="percent", help="nominal sparsity", pinned=True
        ),
        "Strategy": st.column_config.TextColumn(
            "Strategy",
            pinned=True,
            help="how the layers were picked: OrthoRank's layers= choice, remove for layer removal",
        ),
        "Layers": st.column_config.TextColumn(
            "Layers", help="removed or token-selective layers, in the method's order"
        ),
        "Limit": st.column_config.TextColumn(
            "Limit", help="items evaluated per suite (full: the whole data set)"
        ),
        "Seq len": st.column_config.TextColumn("Seq len", help="evaluation sequence length"),
        "Calibration": st.column_config.TextColumn(
            "Calibration", help="calibration data set · samples × length (tokens)"
        ),
    }
    for col in columns:
        if col.label in table:
            help_text = col.help + (
                " — shown as the change from the same model's dense run" if mode != "value" else ""
            )
            config[col.label] = st.column_config.NumberColumn(
                col.label, help=help_text, format=number_format(col, table[col.label], mode)
            )
    return config
