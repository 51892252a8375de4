"""Page 1, the leaderboard: one row per model, method config and evaluation config (suites
merged across runs, ``db.evaluation``), metric columns by suite."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from leaderboard import access, frames, origins, reported, rows, url_state, widgets
from leaderboard.columns import MetricColumn, compact

BEST_STYLE = "background-color: rgba(33, 195, 84, 0.22); font-weight: 700"


def default_sort(columns: list[MetricColumn]) -> int:
    preferred = [("zeroshot", "average"), ("perplexity", "wikitext2")]
    for suite, task in preferred:
        for i, col in enumerate(columns):
            if col.suite == suite and col.task == task:
                return i
    # prefill before decode, compiled (the fair baseline on CUDA) before eager
    speedups = [i for i, col in enumerate(columns) if col.metric == "speedup"]
    prefill = [i for i in speedups if columns[i].task.startswith("prefill")]
    compiled = [i for i in prefill if columns[i].task.startswith("prefill-compiled")]
    return next(iter(compiled or prefill or speedups), 0)


def keep_in_view(table: pd.DataFrame, label: str) -> pd.DataFrame:
    """``label`` moved to just after the identity columns, so sorting by a far-right metric
    does not leave the sorted column off screen."""
    head = [c for c in frames.ID_COLUMNS if c in table]
    rest = [c for c in table.columns if c not in head and c != label]
    return table[[*head, label, *rest]]


def _highlight(
    table: pd.DataFrame, best: dict[str, list[int]], reported_ids: frozenset[int] = frozenset()
) -> pd.DataFrame:
    styles = pd.DataFrame("", index=table.index, columns=table.columns)
    if reported_ids and "Run" in table:
        for row, run in enumerate(table["Run"]):
            if int(run) in reported_ids:
                styles.iloc[row, :] = reported.REPORTED_STYLE
    for label, positions in best.items():
        for row in positions:
            styles.iloc[row, table.columns.get_loc(label)] = BEST_STYLE
    return styles


def url_params(top: float) -> list[url_state.Param]:
    """The board's widgets that live in the URL (``?model=...&sort=...``)."""
    P = url_state.Param
    return [
        P("lb_models", "model", "list", []), P("lb_methods", "method", "list", []),
        P("lb_devices", "device", "list", []), P("lb_origins", "origin", "list", []),
        P("lb_suites", "suite", "list", []), P("lb_sparsity", "sparsity", "range", (0.0, top)),
        P("lb_search", "q", "str", ""), P("lb_all_runs", "all_runs", "bool", False),
        P("lb_all_metrics", "all_metrics", "bool", False), P("lb_relative", "relative", "bool", False),
        P("lb_change", "change", "str", "difference"), P("lb_sort", "sort", "str", None),
        P("lb_best_first", "best_first", "bool", True), P("lb_hidden", "hide", "list", []),
    ]  # fmt: skip


def sidebar_filters(
    runs: pd.DataFrame, results: pd.DataFrame, params: dict[str, url_state.Param]
) -> dict[str, Any]:
    side = st.sidebar
    side.header("Filters")
    options = {
        "lb_models": sorted(runs["model_id"].unique()),
        "lb_methods": sorted(runs["method_name"].unique()),
        "lb_devices": sorted(runs["device"].dropna().unique()),
        "lb_origins": origins.labels(runs),
        "lb_suites": sorted(results["suite"].unique()),
    }
    for key, values in options.items():
        url_state.restore(params[key], values)
    for key in ("lb_sparsity", "lb_search"):
        url_state.restore(params[key])
    models = side.multiselect("Model", options["lb_models"], key="lb_models")
    methods = side.multiselect("Method", options["lb_methods"], key="lb_methods")
    devices = side.multiselect("Device", options["lb_devices"], key="lb_devices")
    origin = side.multiselect(
        "Origin", options["lb_origins"], key="lb_origins", help="measured here, or which bundle"
    )
    suites = side.multiselect("Suite", options["lb_suites"], key="lb_suites")
    top = params["lb_sparsity"].default[1]
    sparsity = side.slider("Sparsity", 0.0, top, step=0.05, key="lb_sparsity")
    search = side.text_input(
        "Search", key="lb_search", placeholder="model, method, layers, device ..."
    )
    side.caption("The page's address holds these filters: copy it to share this view.")
    return {"models": models, "methods": methods, "devices": devices, "suites": suites,
            "sparsity_range": sparsity, "search": search, "origins": origin}  # fmt: skip


def _toggles(params: dict[str, url_state.Param]) -> tuple[bool, bool, bool, bool]:
    for key in ("lb_all_runs", "lb_all_metrics", "lb_relative", "lb_best_first"):
        url_state.restore(params[key])
    url_state.restore(params["lb_change"], ["difference", "percent"])
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
    as_percent = relative and (
        c4.radio(
            "Change as",
            ["difference", "percent"],
            horizontal=True,
            key="lb_change",
            label_visibility="collapsed",
        )
        == "percent"
    )
    return all_runs, all_metrics, relative, as_percent


def render() -> None:
    st.title("Leaderboard")
    url = access.database_url()
    runs = access.load_runs(url)
    if not widgets.require_runs(runs, url):
        return
    results = access.load_results(url)
    runs, results, rep_runs, rep_results = reported.split(runs, results)
    top = round(float(max(0.5, runs["sparsity"].fillna(0).max())), 2)
    param_list = url_params(top)
    params = {p.key: p for p in param_list}
    picked = sidebar_filters(runs, results, params)
    runs, results = origins.keep(runs, results, picked["origins"])
    all_runs, all_metrics, relative, as_percent = _toggles(params)
    rank_reported = not rep_runs.empty and st.toggle(
        "Rank reported numbers with measured rows",
        key="lb_rank_reported",
        help="published numbers (results/reported) are listed apart by default; on: they join "
        "the board (italic, tinted) and are sorted and highlighted with the measured rows",
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
    reported_ids: frozenset[int] = frozenset()
    if rank_reported and not relative:
        theirs = reported.reported_table(rep_runs, rep_results, columns)
        theirs = frames.filter_table(
            theirs, picked["models"], picked["methods"], (), picked["sparsity_range"],
            picked["search"],
        )  # fmt: skip
        table = reported.ranked_together(table, theirs)
        reported_ids = frozenset(int(i) for i in theirs["Run"])
    lacking: dict[int, list[str]] = {}
    if relative:
        lacking = rows.without_baseline(table, runs, results, columns)
        table = rows.relative_to_dense(table, runs, results, columns, percent=as_percent)

    s1, s2, s3 = st.columns([2.2, 0.8, 2])
    if columns:
        if st.session_state.get("lb_sort") not in labels:
            st.session_state.pop("lb_sort", None)  # a stale sort (other metrics shown)
        default = labels[default_sort(columns)]
        params["lb_sort"] = url_state.Param("lb_sort", "sort", "str", default)
        param_list = [params[p.key] for p in param_list]
        url_state.restore(params["lb_sort"], labels)
        by = s1.selectbox("Sort by", labels, key="lb_sort")
        best_first = s2.toggle("Best first", key="lb_best_first")
        col = columns[labels.index(by)]
        table = frames.sort_table(table, col.label, col.higher_is_better, best_first)
        table = keep_in_view(table, col.label)  # the sort column right after the pinned ones
    optional = [c for c in table.columns if c not in frames.PINNED_COLUMNS]
    url_state.restore(params["lb_hidden"], optional)
    hidden = s3.multiselect(
        "Hide columns", optional, key="lb_hidden", placeholder="column chooser: pick columns to hide",
        help="Run, Model, Method, Sparsity and Strategy stay pinned on the left; the downloads "
        "hold exactly the columns shown",
    )  # fmt: skip
    table = table[[c for c in table.columns if c not in hidden]].reset_index(drop=True)
    columns = [c for c in columns if c.label in table]
    url_state.publish(param_list)

    mode = "value" if not relative else ("percent" if as_percent else "delta")
    best = frames.best_rows(table, columns)
    st.dataframe(
        table.style.apply(lambda _: _highlight(table, best, reported_ids), axis=None),
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
    if not rep_runs.empty:
        _reported_section(runs, results, rep_runs, rep_results, columns)
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


def _reported_section(
    runs: pd.DataFrame,
    results: pd.DataFrame,
    rep_runs: pd.DataFrame,
    rep_results: pd.DataFrame,
    columns: list[MetricColumn],
) -> None:
    """Published numbers apart from the measured board, and beside SkipBench's where it measured
    the same model, method, setting, sparsity and protocol."""
    st.subheader("Reported in papers")
    st.caption(
        "Numbers as published (results/reported, imported with `skipbench import --reported`), "
        "not measured by SkipBench; each row links its source. Accuracy is stored as a fraction."
    )
    rep_columns = frames.metric_columns(rep_results)
    theirs = reported.reported_table(rep_runs, rep_results, rep_columns)
    link = {"Source": st.column_config.LinkColumn("Source", display_text="source")}
    st.dataframe(
        theirs.style.apply(lambda t: [reported.REPORTED_STYLE] * len(t), axis=1),
        column_config={**widgets.column_config(rep_columns, theirs, "value"), **link},
        hide_index=True, placeholder="", key="lb_reported",
        height="content" if len(theirs) <= 25 else 520,
    )  # fmt: skip
    both = reported.side_by_side(runs, results, rep_runs, rep_results)
    st.subheader("Measured and reported")
    if both.empty:
        st.caption(
            "SkipBench has not measured any reported model, method, setting and sparsity with the "
            "paper's protocol (whole split) yet."
        )
        return
    st.caption("Difference = measured − reported, in the stored unit.")
    st.dataframe(both, column_config=link, hide_index=True, key="lb_side_by_side")
