"""Page 4, compare two to four runs side by side, with differences from the first."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from leaderboard import access, fields, frames, widgets

BETTER = "color: #1a7f37; font-weight: 600"
WORSE = "color: #cf222e; font-weight: 600"


def config_table(picked: pd.DataFrame) -> pd.DataFrame:
    """What each run was (rows) per run (columns), the method config one field per row, and
    whether the runs agree ("same" right after the field name, so it stays in view)."""
    records = picked.to_dict("records")
    keys = sorted({k for r in records for k in (r.get("method_config") or {})})
    settings = [fields.setting_values(r) for r in records]
    rows_in: dict[str, list[Any]] = {
        "model": [r.get("model_id") for r in records],
        "method": [r.get("method_name") for r in records],
        "sparsity": [widgets.sparsity_text(r.get("sparsity")) for r in records],
        **{f"config: {k}": [(r.get("method_config") or {}).get(k) for r in records] for k in keys},
        "strategy": [s["Strategy"] for s in settings],
        "layers": [frames.layers_text(r.get("method_details")) for r in records],
        "realized sparsity": [fields.realized_sparsity(r.get("method_details")) for r in records],
        "calibration": [s["Calibration"] for s in settings],
        "suites": [", ".join(r.get("suites") or {}) for r in records],
        "limit": [s["Limit"] for s in settings],
        "seq len": [s["Seq len"] for s in settings],
        "device": [r.get("device") for r in records],
        "dtype": [r.get("model_dtype") for r in records],
        "seed": [r.get("seed") for r in records],
        "status": [r.get("status") for r in records],
        "git sha": [(r.get("provenance") or {}).get("git_sha") for r in records],
    }
    heads = [f"#{int(r['id'])}" for r in records]
    out = []
    for name, values in rows_in.items():
        texts = [fields.text(v) for v in values]
        out.append(
            {"field": name, "same": "✓" if len(set(texts)) == 1 else "differs",
             **dict(zip(heads, texts))}
        )  # fmt: skip
    return pd.DataFrame(out)


def metrics_table(picked: pd.DataFrame, results: pd.DataFrame) -> tuple[pd.DataFrame, list[bool]]:
    """One row per metric any of the runs has; one value column per run, then the difference
    of each later run from the first and that difference in percent of the first (blank where
    either is missing or the first is 0)."""
    ids = [int(i) for i in picked["id"]]
    rows = results[results["run_id"].isin(ids)]
    columns = frames.metric_columns(rows)
    matrix = frames.value_matrix(rows, columns).reindex(ids)
    out = pd.DataFrame({"metric": [c.label for c in columns]})
    for rid in ids:
        out[f"#{rid}"] = [matrix.at[rid, c.label] for c in columns]
    base = ids[0]
    first = out[f"#{base}"].astype(float)
    for rid in ids[1:]:
        delta = out[f"#{rid}"].astype(float) - first
        out[f"Δ #{rid} − #{base}"] = delta
        out[f"Δ% #{rid} vs #{base}"] = 100.0 * delta / first.abs().where(first != 0)
    return out, [c.higher_is_better for c in columns]


def _style(table: pd.DataFrame, directions: list[bool]) -> pd.DataFrame:
    styles = pd.DataFrame("", index=table.index, columns=table.columns)
    for col in table.columns:
        if not col.startswith("Δ"):
            continue
        for i, (delta, hib) in enumerate(zip(table[col], directions)):
            if delta is None or math.isnan(delta) or delta == 0:
                continue
            styles.iloc[i, table.columns.get_loc(col)] = BETTER if (delta > 0) == hib else WORSE
    return styles


def _plain(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.4g}"


def _signed(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:+.4g}"


def _percent(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:+.1f}%"


def _default(runs: pd.DataFrame) -> list[int]:
    wanted = st.query_params.get("runs", "")
    ids = [int(x) for x in wanted.split(",") if x.strip().isdigit() and int(x) in set(runs["id"])]
    if ids:
        return ids[:4]
    ok = runs[runs["status"] == "succeeded"]
    return [int(i) for i in ok["id"].iloc[-2:]]


def render() -> None:
    st.title("Compare runs")
    url = access.database_url()
    runs = access.load_runs(url)
    if not widgets.require_runs(runs, url):
        return
    labels = {int(r["id"]): widgets.run_label(r) for _, r in runs.iterrows()}
    picked_ids = st.multiselect(
        "Runs (two to four; differences are from the first)", list(labels)[::-1], default=_default(runs),
        format_func=lambda i: labels[i], max_selections=4, key="cmp_runs",
    )  # fmt: skip
    if len(picked_ids) < 2:
        st.info("Pick at least two runs to compare.")
        return
    st.query_params["runs"] = ",".join(map(str, picked_ids))
    picked = runs.set_index("id").loc[picked_ids].reset_index()
    st.subheader("Configuration")
    st.dataframe(
        config_table(picked),
        hide_index=True,
        key="cmp_config",
        height="content",
        column_config={"field": st.column_config.TextColumn(pinned=True),
                       "same": st.column_config.TextColumn(pinned=True)},
    )  # fmt: skip
    st.subheader("Results")
    table, directions = metrics_table(picked, access.load_results(url))
    if table.empty:
        st.info("None of these runs has results.")
        return
    numeric = [c for c in table.columns if c != "metric"]
    styled = table.style.apply(lambda _: _style(table, directions), axis=None).format(
        {
            c: _percent if c.startswith("Δ%") else _signed if c.startswith("Δ") else _plain
            for c in numeric
        }  # fmt: skip
    )
    st.dataframe(styled, hide_index=True, key="cmp_results", height="content")
    st.caption(
        "Green: the later run is better than the first on that metric (by the metric's direction); "
        "red: worse. Δ%: the difference in percent of the first run's value. Blank: not measured."
    )
