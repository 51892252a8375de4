"""Page 2, accuracy vs speed: one point per leaderboard row on one device, the Pareto
frontier, dense as the anchor and the ideal speedup of layer removal drawn."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from leaderboard import access, frames, rows, widgets
from leaderboard.columns import SPEEDUP, MetricColumn, compact, is_speed
from leaderboard.pareto import frontier
from leaderboard.speed_checks import CPU_NOTE, is_cpu

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


def padded(values: list[float], room: float = 0.12) -> list[float]:
    """An axis domain holding every value with ``room`` of the span on each side (labels and
    marks at the extremes are never clipped)."""
    low, high = min(values), max(values)
    span = high - low or abs(high) or 1.0
    return [low - room * span, high + room * span]


def ideal_lines(points: pd.DataFrame) -> pd.DataFrame:
    """One reference per nominal sparsity s of the plotted methods: the ideal speedup of
    removing that fraction of the layers, 1/(1 - s)."""
    sparsities = sorted(
        {round(float(v), 6) for v in points.loc[points["Method"] != "dense", "Sparsity"].dropna()}
    )
    ideal = [(s, 1.0 / (1.0 - s)) for s in sparsities if 0 < s < 1]
    return pd.DataFrame(
        {
            "ideal": [i for _, i in ideal],
            "text": [f"ideal {i:.2f}× at {s:.0%}" for s, i in ideal],
        }
    )


def point_labels(points: pd.DataFrame) -> list[str]:
    """``shortgpt 20%``; dense is ``dense``."""
    return [
        "dense" if m == "dense" else f"{m} {widgets.sparsity_text(s)}"
        for m, s in zip(points["Method"], points["Sparsity"])
    ]


def chart(
    points: pd.DataFrame, x: MetricColumn, y: MetricColumn, on_front: list[int]
) -> alt.LayerChart | alt.FacetChart:
    """Scatter (color: method, size: sparsity, each point labelled) + frontier line; dense is
    the anchor (a black diamond with guide lines); for a speedup axis, the ideal speedup of
    each plotted sparsity is a dotted rule. A lower-is-better axis is reversed so that up and
    right always mean better; domains are padded so nothing is clipped."""
    points = points.assign(label=point_labels(points))
    ideal = ideal_lines(points) if x.metric == SPEEDUP else pd.DataFrame({"ideal": [], "text": []})
    x_scale = alt.Scale(
        domain=padded([*points["x"], *ideal["ideal"]]), nice=False, zero=False,
        reverse=not x.higher_is_better,
    )  # fmt: skip
    y_scale = alt.Scale(
        domain=padded(list(points["y"])), nice=False, zero=False, reverse=not y.higher_is_better
    )
    x_axis = alt.X("x:Q", title=x.label, scale=x_scale)
    y_axis = alt.Y("y:Q", title=y.label, scale=y_scale)
    methods = sorted(points["Method"].unique())
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(methods))]
    tooltip = [
        alt.Tooltip("Run:Q"), alt.Tooltip("Model:N"), alt.Tooltip("Method:N"),
        alt.Tooltip("Sparsity:Q", format=".0%"), alt.Tooltip("Layers:N"), alt.Tooltip("Device:N"),
        alt.Tooltip("x:Q", title=x.label, format=".4g"), alt.Tooltip("y:Q", title=y.label, format=".4g"),
    ]  # fmt: skip
    others = points[points["Method"] != "dense"]
    dense = points[points["Method"] == "dense"]
    dots = (
        alt.Chart(others)
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
    anchor = (
        alt.Chart(dense)
        .mark_point(shape="diamond", filled=True, size=260, color="black")
        .encode(x=x_axis, y=y_axis, tooltip=tooltip)
    )
    guides = [
        alt.Chart(dense).mark_rule(color="gray", strokeDash=[2, 3], opacity=0.6).encode(x=x_axis),
        alt.Chart(dense).mark_rule(color="gray", strokeDash=[2, 3], opacity=0.6).encode(y=y_axis),
    ]
    labels = (
        alt.Chart(points)
        .mark_text(align="left", dx=9, dy=-9, fontSize=11)
        .encode(x=x_axis, y=y_axis, text="label:N")
    )
    front = points.iloc[on_front].assign(order=range(len(on_front)))
    line = (
        alt.Chart(front)
        .mark_line(color="gray", strokeDash=[6, 4], point=False)
        .encode(x=x_axis, y=y_axis, order="order:Q")
    )
    layers: list[Any] = [*guides, line, dots, anchor, labels]
    if not ideal.empty:
        ideal_x = alt.X("ideal:Q", scale=x_scale)
        layers.append(alt.Chart(ideal).mark_rule(color="#888", strokeDash=[1, 3]).encode(x=ideal_x))
        layers.append(
            alt.Chart(ideal)
            .mark_text(angle=270, align="right", baseline="bottom", dx=-4, dy=-3,
                       fontSize=10, color="#666")
            .encode(x=ideal_x, y=alt.value(0), text="text:N")
        )  # fmt: skip
    return alt.layer(*layers).properties(height=480)


def pick_device(devices: pd.Series) -> list[str]:
    """Devices with speed values, most points first, GPUs before CPUs on a tie."""
    counts = devices.fillna("unknown").value_counts()
    return sorted(counts.index, key=lambda d: (-counts[d], is_cpu(d), d))


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
    c1, c2, c3, c4 = st.columns([1.2, 1.2, 1.2, 1])
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
        help="every successful run on its own (quality and speed from the same run), instead of "
        "one point per model, method config and evaluation settings",
    )
    y = quality[[c.label for c in quality].index(y_label)]
    x = speed[[c.label for c in speed].index(x_label)]

    pool = runs[(runs["model_id"] == model) & (runs["status"] == "succeeded")]
    if all_runs:
        lines, values = pool, results
    else:
        merged = rows.merge(pool, results[results["run_id"].isin(pool["id"])])
        lines, values = merged.runs, merged.results
    table = frames.wide_table(lines, values, [x, y])
    points = table.rename(columns={x.label: "x", y.label: "y"})
    timed = points.dropna(subset=["x"])
    if timed.empty:
        st.info(f"No run of {model} has {x.label}.")
        return
    devices = pick_device(timed["Device"])
    device = c4.selectbox(
        "Device", devices, key="sc_device",
        help="speed is only comparable on one device: CPU and GPU timings never share an axis",
    )  # fmt: skip
    points = points[points["Device"].fillna("unknown") == device]
    missing = points[points[["x", "y"]].isna().any(axis=1)]
    points = points.dropna(subset=["x", "y"]).reset_index(drop=True)
    if points.empty:
        st.info(f"No row of {model} on {device} has both {y.label} and {x.label}.")
        return
    if is_cpu(device):
        st.warning(f"{device}: {CPU_NOTE}.")
    on_front = frontier(
        list(zip(points["x"], points["y"])), (x.higher_is_better, y.higher_is_better)
    )
    # theme=None: Streamlit's theme would replace the method colors with similar reds
    st.altair_chart(chart(points, x, y, on_front), key="sc_chart", theme=None)
    st.caption(
        "Up and right are better on both axes (lower-is-better axes are reversed). The dashed line joins the "
        "Pareto frontier: rows no other row beats on both quality and speed. Black diamond: dense, the anchor. "
        "Dotted rules: the ideal speedup 1/(1 − s) of removing a fraction s of the layers. Point size: nominal "
        "sparsity. Quality and speed of a point may come from different runs of the same row "
        "(same model, method config and evaluation settings)."
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
