"""Page 2, accuracy vs speed: one point per run, the Pareto frontier drawn."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from leaderboard import access, frames, widgets
from leaderboard.columns import SPEEDUP, MetricColumn, compact, is_speed
from leaderboard.pareto import frontier

# distinct colors per method (the theme's default palette puts similar reds side by side)
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d"]


def _pick(columns: list[MetricColumn], wanted: list[tuple[str, str]]) -> int:
    for suite, key in wanted:
        for i, col in enumerate(columns):
            if col.suite == suite and (col.task == key or col.metric == key):
                return i
    return 0


def _pick_speed(speed: list[MetricColumn]) -> int:
    """Prefill speedup first, then any speedup, then the first speed column."""
    for prefix in ("prefill", ""):
        for i, col in enumerate(speed):
            if col.metric == SPEEDUP and col.task.startswith(prefix):
                return i
    return 0


def chart(
    points: pd.DataFrame, x: MetricColumn, y: MetricColumn, on_front: list[int]
) -> alt.LayerChart | alt.FacetChart:
    """Scatter (color: method, size: sparsity) + frontier line; a lower-is-better axis is
    reversed so that up and right always mean better."""
    x_axis = alt.X(
        "x:Q", title=x.label, scale=alt.Scale(zero=False, reverse=not x.higher_is_better)
    )
    y_axis = alt.Y(
        "y:Q", title=y.label, scale=alt.Scale(zero=False, reverse=not y.higher_is_better)
    )
    methods = sorted(points["Method"].unique())
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(methods))]
    tooltip = [
        alt.Tooltip("Run:Q"), alt.Tooltip("Model:N"), alt.Tooltip("Method:N"),
        alt.Tooltip("Sparsity:Q", format=".0%"), alt.Tooltip("Layers:N"),
        alt.Tooltip("x:Q", title=x.label, format=".4g"), alt.Tooltip("y:Q", title=y.label, format=".4g"),
    ]  # fmt: skip
    dots = (
        alt.Chart(points)
        .mark_circle(opacity=0.85, stroke="black", strokeWidth=0.5)
        .encode(
            x=x_axis,
            y=y_axis,
            color=alt.Color("Method:N", scale=alt.Scale(domain=methods, range=colors)),
            size=alt.Size(
                "Sparsity:Q", scale=alt.Scale(range=[80, 500]), legend=alt.Legend(format=".0%")
            ),
            tooltip=tooltip,
        )  # fmt: skip
    )
    front = points.iloc[on_front].assign(order=range(len(on_front)))
    line = (
        alt.Chart(front)
        .mark_line(color="gray", strokeDash=[6, 4], point=False)
        .encode(x=x_axis, y=y_axis, order="order:Q")
    )
    return alt.layer(line, dots).properties(height=480)


def render() -> None:
    st.title("Accuracy vs speed")
    url = access.database_url()
    runs = access.load_runs(url)
    if not widgets.require_runs(runs, url):
        return
    results = access.load_results(url)
    columns = compact(frames.metric_columns(results))
    quality = [c for c in columns if not is_speed(c)]
    speed = [c for c in columns if is_speed(c)]
    speed = sorted(speed, key=lambda c: c.metric != SPEEDUP)  # speedups first
    models = sorted(runs["model_id"].unique())
    c1, c2, c3 = st.columns(3)
    counts = runs[runs["status"] == "succeeded"]["model_id"].value_counts()
    busiest = models.index(str(counts.index[0])) if not counts.empty else 0
    model = c1.selectbox("Model", models, index=busiest, key="sc_model")
    if not quality or not speed:
        st.info(
            "This needs a quality metric and a throughput metric; the store has "
            f"{len(quality)} and {len(speed)}. Add speed with `skipbench run ... --suite throughput`."
        )
        return
    y_label = c2.selectbox(
        "Quality", [c.label for c in quality], key="sc_quality",
        index=_pick(quality, [("zeroshot", "average"), ("perplexity", "wikitext2")]),
    )  # fmt: skip
    x_label = c3.selectbox(
        "Speed", [c.label for c in speed], key="sc_speed",
        index=_pick_speed(speed),
    )  # fmt: skip
    all_runs = st.toggle(
        "All runs",
        key="sc_all_runs",
        help="every successful run, not only the newest per (model, method, sparsity)",
    )
    y = quality[[c.label for c in quality].index(y_label)]
    x = speed[[c.label for c in speed].index(x_label)]

    pool = runs[(runs["model_id"] == model) & (runs["status"] == "succeeded")]
    pool = pool if all_runs else frames.latest_per_key(pool, results["run_id"])
    table = frames.wide_table(pool, results, [x, y])
    points = table.rename(columns={x.label: "x", y.label: "y"})
    missing = points[points[["x", "y"]].isna().any(axis=1)]
    points = points.dropna(subset=["x", "y"]).reset_index(drop=True)
    if points.empty:
        st.info(f"No run of {model} has both {y.label} and {x.label}.")
        return
    on_front = frontier(
        list(zip(points["x"], points["y"])), (x.higher_is_better, y.higher_is_better)
    )
    # theme=None: Streamlit's theme would replace the method colors with similar reds
    st.altair_chart(chart(points, x, y, on_front), key="sc_chart", theme=None)
    st.caption(
        "Up and right are better on both axes (lower-is-better axes are reversed). The dashed line joins the "
        "Pareto frontier: runs no other run beats on both quality and speed. Point size: nominal sparsity."
    )
    front = points.iloc[on_front][["Run", "Method", "Sparsity", "Layers", "x", "y"]].rename(
        columns={"x": x.label, "y": y.label}
    )
    st.subheader("Pareto frontier")
    st.dataframe(front, hide_index=True, key="sc_front",
                 column_config={"Sparsity": st.column_config.NumberColumn(format="percent")})  # fmt: skip
    if not missing.empty:
        st.caption(
            "Not plotted (a value is missing): "
            + ", ".join(f"#{r} {m}" for r, m in zip(missing["Run"], missing["Method"]))
        )
