"""Page 3, one run: config, the layer strip, every result, samples, provenance, diagnostics."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from leaderboard import access, details, fields, speed_checks, widgets
from leaderboard.columns import MetricColumn, ordered
from leaderboard.frames import DERIVED_SPEEDUP

STATE_COLORS = {
    "kept": "#c9d6e3",
    "removed": "#d1495b",
    "attention removed": "#e8875f",
    "MLP removed": "#8f5c9e",
    "token-selective": "#edae49",
}


def layer_strip(states: list[dict[str, Any]]) -> alt.LayerChart | alt.FacetChart:
    """One cell per decoder layer, colored by what the method did; the number in a cell is its
    position in the removal (or selection) order."""
    data = pd.DataFrame(states).assign(row="")
    data["label"] = [str(int(o)) if o == o and o is not None else "" for o in data["order"]]
    base = alt.Chart(data).encode(
        x=alt.X("layer:O", title="decoder layer", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("row:N", title=None, axis=None),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color(
            "state:N",
            scale=alt.Scale(domain=list(STATE_COLORS), range=list(STATE_COLORS.values())),
            legend=alt.Legend(orient="top", title=None),
        ),
        tooltip=["layer:O", "state:N", alt.Tooltip("order:Q", title="order")],
    )
    labels = base.mark_text(fontWeight="bold", color="white").encode(text="label:N")
    return alt.layer(cells, labels).properties(height=50)


def results_table(rows: pd.DataFrame) -> pd.DataFrame:
    cols = {(r.suite, r.task, r.metric): r for r in rows.itertuples()}
    order = ordered(
        MetricColumn(
            r.suite, r.task, r.metric, bool(r.higher_is_better), r.unit or "", r.display_name or ""
        )
        for r in rows.itertuples()
    )
    out = []
    for col in order:
        r = cols[col.key]
        out.append(
            {
                "suite": col.suite,
                "task": col.task,
                "metric": col.display_name or col.metric,
                "value": r.value,
                "stderr": r.stderr,
                "n": r.n,
                "unit": col.unit,
                "better": "↑ higher" if col.higher_is_better else "↓ lower",
                "source": "derived" if r.display_name == DERIVED_SPEEDUP else "stored",
            }  # fmt: skip
        )
    return pd.DataFrame(out)


def _pick_run(runs: pd.DataFrame) -> pd.Series:
    ids = [int(i) for i in runs["id"].iloc[::-1]]
    labels = {int(r["id"]): widgets.run_label(r) for _, r in runs.iterrows()}
    wanted = st.query_params.get("run")
    finished = [int(i) for i in runs.loc[runs["status"] == "succeeded", "id"].iloc[::-1]]
    index = ids.index(finished[0]) if finished else 0
    if wanted and wanted.isdigit() and int(wanted) in ids:
        index = ids.index(int(wanted))
    run_id = st.selectbox("Run", ids, index=index, format_func=lambda i: labels[i], key="rd_run")
    st.query_params["run"] = str(run_id)
    return runs[runs["id"] == run_id].iloc[0]


def render() -> None:
    st.title("Run detail")
    url = access.database_url()
    runs = access.load_runs(url)
    if not widgets.require_runs(runs, url):
        return
    run = _pick_run(runs)
    run_id = int(run["id"])
    status = run["status"]
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Status", status)
    m2.metric("Method", run["method_name"])
    m3.metric("Sparsity", widgets.sparsity_text(run["sparsity"]))
    m4.metric("Model", str(run["model_id"]).rsplit("/", 1)[-1])
    if status == "failed" and run.get("error"):
        st.error(f"Failed: {run['error']}")
    if widgets.is_synthetic(run["provenance"]):
        st.warning(
            "Synthetic demo run (provenance.synthetic_demo): no model was run for these numbers."
        )

    st.subheader("Method")
    method_details = run["method_details"] or {}
    states = details.layer_states(method_details, run.get("model_info"))
    if states:
        st.altair_chart(layer_strip(states), key="rd_strip", height=150)
        removed = [s for s in states if s["state"] != "kept"]
        sublayers = method_details.get("removed_sublayers") or []
        if sublayers:
            st.caption(
                f"{len(sublayers)} sublayers removed from {len(removed)} of {len(states)} "
                "layers, in order: " + " → ".join(map(str, sublayers))
            )
        elif removed:
            kind = removed[0]["state"]
            order = sorted(removed, key=lambda s: s["order"])
            st.caption(
                f"{len(removed)} of {len(states)} layers {kind}, in order: "
                + " → ".join(str(s["layer"]) for s in order)
            )
        else:
            st.caption(f"All {len(states)} layers kept.")
    c1, c2 = st.columns(2)
    c1.markdown("**Config**")
    c1.table(field_table(fields.flatten(run["method_config"] or {})) if run["method_config"] else
             pd.DataFrame({"value": ["(no parameters)"]}))  # fmt: skip
    c2.markdown("**What it did** (method details)")
    c2.table(field_table(fields.flatten(method_details)))

    st.subheader("Results")
    rows = access.load_results(url)
    rows = rows[rows["run_id"] == run_id]
    if rows.empty:
        st.info("No results stored for this run" + (" yet." if status == "running" else "."))
    else:
        st.dataframe(results_table(rows), hide_index=True, key="rd_results", placeholder="")

    artifacts = access.load_artifacts(url, run_id)
    for warning in speed_checks.run_warnings(
        rows.to_dict("records"),
        method_details,
        str(run["method_name"]),
        run.get("device"),
        artifacts,
    ):
        st.warning(f"Speed check: {warning}")
    _samples(artifacts)
    _diagnostics(artifacts)

    st.subheader("Provenance")
    _provenance(run)


def field_table(fields: dict[str, str]) -> pd.DataFrame:
    """``field``/``value`` rows for ``st.table`` (a static table: long values wrap)."""
    kept = {k: v for k, v in fields.items() if v != ""}
    return pd.DataFrame({"field": list(kept), "value": list(kept.values())}).set_index("field")


def _provenance(run: pd.Series) -> None:
    """Model, method outcome, job and provenance as readable fields; hashes copyable."""
    record = run.to_dict()
    model = fields.model_fields(record)
    prov = dict(record.get("provenance") or {})
    p1, p2 = st.columns(2)
    p1.markdown("**Model and method**")
    hashes = {"weights hash", "calibration files (sha256)"}
    p1.table(field_table({k: v for k, v in model.items() if k not in hashes}))
    for name in sorted(hashes):
        if model.get(name):
            p1.caption(name)
            p1.code(model[name], language=None, wrap_lines=True)
    run_fields = {
        "device": fields.text(record.get("device")),
        "seed": fields.text(record.get("seed")),
        "created": fields.text(record.get("created_at")),
        "finished": fields.text(record.get("finished_at")),
        "git sha": fields.text(prov.get("git_sha")),
    }
    rest = {k: v for k, v in fields.flatten({k: v for k, v in prov.items() if k != "spec"}).items()
            if k != "git_sha"}  # fmt: skip
    p2.markdown("**Run and provenance**")
    p2.table(field_table({**run_fields, **rest}))
    if prov.get("spec"):
        p2.markdown("**Run spec** (what `skipbench run --resume` replays)")
        p2.table(field_table(fields.flatten(prov["spec"])))
    files = record.get("data_files") or {}
    st.markdown("**Data files** (sha256)")
    st.code(
        "\n".join(f"{p}  {h}" for p, h in files.items()) or "(none)", language=None, wrap_lines=True
    )
    st.markdown("**Suites run** (config)")
    st.table(field_table(fields.flatten(record.get("suites") or {})))


def _samples(artifacts: list[dict[str, Any]]) -> None:
    """Per-sample records: a readable table (prompt preview, the model's answer, gold, metric)
    and one sample's full text on demand; the raw records below."""
    tables = {}
    for art in artifacts:
        for name, records in details.record_tables(art["payload"]).items():
            tables[f"{art['suite']}/{art['name']}: {name}"] = records
    if not tables:
        return
    st.subheader("Per-sample records")
    which = st.selectbox("Records", list(tables), key="rd_records")
    rows = pd.DataFrame(details.sample_rows(tables[which]))
    st.dataframe(
        rows[["sample", "prompt", "model's answer", "gold", "metric"]],
        hide_index=True,
        key="rd_samples",
        column_config={"prompt": st.column_config.TextColumn(width="large")},
    )
    pick = st.selectbox(
        "Show one sample in full", list(range(len(rows))), key="rd_sample",
        format_func=lambda i: f"{rows.at[i, 'sample']}: {rows.at[i, 'prompt'][:60]}",
    )  # fmt: skip
    with st.expander(f"Sample {rows.at[pick, 'sample']}", expanded=False):
        st.markdown("**Prompt**")
        st.code(rows.at[pick, "full prompt"] or "(not stored)", language=None, wrap_lines=True)
        if rows.at[pick, "choices"]:
            st.markdown("**Choices**")
            st.code(rows.at[pick, "choices"], language=None, wrap_lines=True)
        st.markdown(
            f"**Model's answer:** {rows.at[pick, 'full answer']}  \n**Gold:** "
            f"{rows.at[pick, 'gold']}  \n**Metric:** {rows.at[pick, 'metric']}"
        )
    with st.expander("Raw records (as stored)"):
        st.dataframe(pd.DataFrame(tables[which]), hide_index=True, key="rd_records_table")


def _diagnostics(artifacts: list[dict[str, Any]]) -> None:
    """Per-layer curves of any artifact holding lists of numbers (e.g. ``analysis/sink``)."""
    shown = False
    for art in artifacts:
        series = details.numeric_series(art["payload"])
        if not series or details.record_tables(art["payload"]):
            continue
        if not shown:
            st.subheader("Diagnostics")
            shown = True
        st.markdown(f"**{art['suite']}/{art['name']}** (one value per layer)")
        cols = st.columns(min(len(series), 3))
        for i, (name, values) in enumerate(series.items()):
            data = pd.DataFrame({"layer": range(len(values)), "value": values})
            chart = alt.Chart(data).mark_line(point=True).encode(
                x=alt.X("layer:Q", title="layer"), y=alt.Y("value:Q", title=name, scale=alt.Scale(zero=False)),
                tooltip=["layer:Q", alt.Tooltip("value:Q", title=name)],
            ).properties(height=240, title=name)  # fmt: skip
            cols[i % len(cols)].altair_chart(
                chart, key=f"rd_diag_{art['suite']}_{art['name']}_{name}"
            )
