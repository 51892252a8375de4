"""Page 1, the leaderboard: one row per model, method config and evaluation config (suites
merged across runs, ``db.evaluation``), metric columns by suite."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from leaderboard import access, frames, origins, rows, widgets
from leaderboard.columns import MetricColumn, compact

BEST_STYLE = "background-color: rgba(33, 195, 84, 0.22); font-weight: 700"


def _default_sort(columns: list[MetricColumn]) -> int:
    preferred = [("zeroshot", "average"), ("perplexity", "wikitext2")]
    for suite, task in preferred:
        for i, col in enumerate(columns):
            if col.suite == suite and col.task == task:
                return i
    return 0


def _highlight(table: pd.DataFrame, best: dict[str, list[int]]) -> pd.DataFrame:
    styles = pd.DataFrame("", index=table.index, columns=table.columns)
    for label, positions in best.items():
        for row in positions:
            styles.iloc[row, table.columns.get_loc(label)] = BEST_STYLE
    return styles


def sidebar_filters(runs: pd.DataFrame, results: pd.DataFrame) -> dict[str, Any]:
    side = st.sidebar
    side.header("Filters")
    models = side.multiselect("Model", sorted(runs["model_id"].unique()), key="lb_models")
    methods = side.multiselect("Method", sorted(runs["method_name"].unique()), key="lb_methods")
    devices = side.multiselect("Device", sorted(runs["device"].dropna().unique()), key="lb_devices")
    origin = side.multiselect(
        "Origin", origins.labels(runs), key="lb_origins", help="measured here, or which bundle"
    )
    suites = side.multiselect("Suite", sorted(results["suite"].unique()), key="lb_suites")
    top = float(max(0.5, runs["sparsity"].fillna(0).max()))
    sparsity = side.slider(
        "Sparsity", 0.0, round(top, 2), (0.0, round(top, 2)), step=0.05, key="lb_sparsity"
    )
    search = side.text_input(
        "Search", key="lb_search", placeholder="model, method, layers, device ..."
    )
    return {"models": models, "methods": methods, "devices": devices, "suites": suites,
            "sparsity_range": sparsity, "search": search, "origins": origin}  # fmt: skip


def render() -> None:
    st.title("Leaderboard")
    url = access.database_url()
    runs = access.load_runs(url)
    if not widgets.require_runs(runs, url):
        return
    results = access.load_results(url)
    picked = sidebar_filters(runs, results)
    runs, results = origins.keep(runs, results, picked["origins"])
    c1, c2, c3, c4 = st.columns([1, 1, 1, 1.3])
    all_runs = c1.toggle(
        "All runs",
        key="lb_all_runs",
        help="every run on its own, instead of one row per model, method config and "
        "evaluation settings with suites merged across successful runs",
    )
    all_metrics = c2.toggle(
        "All metrics", key="lb_all_metrics", help="every stored metric, not only the headline ones"
    )
    relative = c3.toggle(
        "Relative to dense",
        key="lb_relative",
        help="each number as its change from the same model's dense row measured the same way "
        "(same evaluation settings and data; same device for speed)",
    )
    as_percent = (
        relative
        and c4.radio(
            "Change as",
            ["difference", "percent"],
            horizontal=True,
            key="lb_change",
            label_visibility="collapsed",
        )
        == "percent"
    )

    if all_runs:
        shown_runs, shown_results = rows.with_speed_checks(runs, results), results
    else:
        merged = rows.merge(runs, results)
        shown_runs, shown_results = merged.runs, merged.results
    columns = frames.metric_columns(results)
    if not all_metrics:
        columns = compact(columns)
    if picked["suites"]:
        columns = [c for c in columns if c.suite in picked["suites"]]
    table = frames.wide_table(shown_runs, shown_results, columns)
    labels = [c.label for c in columns]
    if picked["suites"]:
        table = table[table[labels].notna().any(axis=1)]
    table = frames.filter_table(
        table,
        picked["models"],
        picked["methods"],
        picked["devices"],
        picked["sparsity_range"],
        picked["search"],
    )
    lacking: dict[int, list[str]] = {}
    if relative:
        lacking = rows.without_baseline(table, runs, results, columns)
        table = rows.relative_to_dense(table, runs, results, columns, percent=as_percent)

    if columns:
        s1, s2 = st.columns([3, 1])
        by = s1.selectbox("Sort by", labels, index=_default_sort(columns), key="lb_sort")
        best_first = s2.toggle("Best first", value=True, key="lb_best_first")
        col = columns[labels.index(by)]
        table = frames.sort_table(table, col.label, col.higher_is_better, best_first)
    table = table.reset_index(drop=True)

    mode = "value" if not relative else ("percent" if as_percent else "delta")
    best = frames.best_rows(table, columns)
    st.dataframe(
        table.style.apply(lambda _: _highlight(table, best), axis=None),
        column_config=widgets.column_config(columns, table, mode),
        hide_index=True,
        placeholder="",
        key="lb_table",
        height="content" if len(table) <= 25 else 720,
    )
    what = (
        "all runs"
        if all_runs
        else "one per model, method config and evaluation settings; suites merged across "
        "successful runs, the newest value wins; Run: the row's newest run"
    )
    st.caption(
        f"{len(table)} rows ({what}). ↑/↓: higher/lower is better; the best value of each column is "
        "highlighted; blank: not measured. Speedup = tokens/s over the same model's dense run "
        "measured the same way (same settings and device)."
        + (
            " Changes are from the same model's dense row with the same evaluation settings "
            "(accuracy in percentage points)."
            if relative
            else ""
        )
    )
    if lacking:
        st.info(
            "No dense row measured the same way (blank changes) for: "
            + ", ".join(f"#{r} ({', '.join(s)})" for r, s in lacking.items())
        )
    if "Speed check" in table and table["Speed check"].str.contains("⚠").any():
        flagged = table.loc[table["Speed check"].str.contains("⚠"), "Run"]
        st.warning(
            "Speed figures that fail a sanity check (above the ideal 1/(1 − realized sparsity), "
            "TTFT not below total time, or a wide p90/median spread): "
            + ", ".join(f"#{int(r)}" for r in flagged)
            + ". See the Speed check column."
        )
    if any(widgets.is_synthetic(p) for p in runs.loc[runs["id"].isin(table["Run"]), "provenance"]):
        st.warning(
            "Some rows are synthetic demo data (provenance.synthetic_demo): no model was run for them."
        )
    d1, d2, _ = st.columns([1, 1, 4])
    d1.download_button(
        "Download CSV", frames.to_csv(table), "leaderboard.csv", "text/csv", key="lb_csv"
    )
    d2.download_button(
        "Download JSON",
        frames.to_json(table),
        "leaderboard.json",
        "application/json",
        key="lb_json",
    )
