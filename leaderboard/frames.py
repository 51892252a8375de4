"""The leaderboard's table logic in plain pandas (no Streamlit): tested directly.

Runs and results come in as the dicts of ``db.queries``; the wide table has one row per run,
identity columns first, then one column per metric (``MetricColumn.label``). Missing results
stay NaN (shown blank), never zero.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from leaderboard.columns import SPEEDUP, MetricColumn, ordered, suite_family

ID_COLUMNS = ["Run", "Model", "Method", "Sparsity", "Layers", "Device", "Status"]
RESULT_FIELDS = [
    "run_id", "suite", "task", "metric", "value", "stderr", "n", "unit", "higher_is_better",
    "display_name",
]  # fmt: skip


def runs_frame(runs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(runs))
    if frame.empty:
        return pd.DataFrame(
            columns=["id", "status", "model_id", "method_name", "sparsity", "device"]
        )
    return frame.sort_values("id").reset_index(drop=True)


def results_frame(results: Sequence[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(list(results), columns=RESULT_FIELDS)


def sparsity_key(value: Any) -> float:
    """Group key for a nominal sparsity (None, as for dense, groups with 0)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0.0
    return round(float(value), 6)


def latest_per_key(runs: pd.DataFrame, with_results: Iterable[int] | None = None) -> pd.DataFrame:
    """The newest succeeded run of each (model, method, sparsity); ids grow with creation.

    With ``with_results``, only those runs count (a diagnostics-only run such as
    ``analyze sink`` stores no results and must not hide the model's dense row)."""
    ok = runs[runs["status"] == "succeeded"].copy()
    if with_results is not None:
        ok = ok[ok["id"].isin(set(with_results))]
    if ok.empty:
        return ok
    ok["_key"] = [
        (m, meth, sparsity_key(s))
        for m, meth, s in zip(ok["model_id"], ok["method_name"], ok["sparsity"])
    ]
    latest = ok.sort_values("id").groupby("_key", sort=False).tail(1)
    return latest.drop(columns="_key").sort_values("id").reset_index(drop=True)


def dense_candidates(
    runs: pd.DataFrame, model_id: str, device: Any, same_device_only: bool = False
) -> list[int]:
    """A model's succeeded dense runs in the order they serve as its baseline: same device
    first, newest first (a metric's baseline is the first of these that has the metric)."""
    dense = runs[
        (runs["status"] == "succeeded")
        & (runs["method_name"] == "dense")
        & (runs["model_id"] == model_id)
    ]
    same = dense["device"].fillna("") == (device or "")
    first = sorted(dense.loc[same, "id"], reverse=True)
    rest = [] if same_device_only else sorted(dense.loc[~same, "id"], reverse=True)
    return [int(i) for i in [*first, *rest]]


DERIVED_SPEEDUP = "Speedup over dense (tokens/s ratio, dense run)"  # marks rows made here


def with_speedup(results: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Add ``speedup`` rows: a throughput task's tokens/s over the same model's dense run on
    the same device (dense itself gets 1.0). No dense run on that device: no speedup.

    A speedup the suite stored itself (dense timed in the same process) is kept as it is.
    """
    tps = results[(results["metric"] == "tokens_per_s") & results["suite"].map(_is_throughput)]
    if tps.empty or runs.empty:
        return results
    stored = results[results["metric"] == SPEEDUP]
    measured = set(zip(stored["run_id"], stored["suite"], stored["task"], strict=True))
    by_run = runs.set_index("id")
    lookup = {(r.run_id, r.suite, r.task): r.value for r in tps.itertuples()}
    extra = []
    for r in tps.itertuples():
        if r.run_id not in by_run.index or (r.run_id, r.suite, r.task) in measured:
            continue
        run = by_run.loc[r.run_id]
        refs = dense_candidates(runs, run["model_id"], run["device"], same_device_only=True)
        base = next((lookup[k] for k in ((i, r.suite, r.task) for i in refs) if k in lookup), None)
        if not base:
            continue
        extra.append(
            {
                "run_id": r.run_id,
                "suite": r.suite,
                "task": r.task,
                "metric": SPEEDUP,
                "value": r.value / base,
                "stderr": None,
                "n": None,
                "unit": "×",
                "higher_is_better": True,
                "display_name": DERIVED_SPEEDUP,
            }  # fmt: skip
        )
    if not extra:
        return results
    return pd.concat([results, pd.DataFrame(extra, columns=RESULT_FIELDS)], ignore_index=True)


def _is_throughput(suite: str) -> bool:
    return suite_family(suite) == "throughput"


def metric_columns(results: pd.DataFrame) -> list[MetricColumn]:
    """One column per stored (suite, task, metric); metadata from its newest row."""
    cols: dict[tuple[str, str, str], MetricColumn] = {}
    for r in results.itertuples():
        cols[(r.suite, r.task, r.metric)] = MetricColumn(
            suite=r.suite, task=r.task, metric=r.metric, higher_is_better=bool(r.higher_is_better),
            unit=r.unit or "", display_name=r.display_name or "",
        )  # fmt: skip
    return ordered(cols.values())


def layers_text(details: Any) -> str:
    """What the method did to the layers, removal order kept: ``removed 25,26,21``."""
    if not isinstance(details, dict):
        return ""
    if details.get("removed_layers"):
        return "removed " + ",".join(map(str, details["removed_layers"]))
    order = details.get("selection_order") or details.get("selective_layers")
    if order:
        return "selective " + ",".join(map(str, order))
    return ""


def value_matrix(results: pd.DataFrame, columns: Sequence[MetricColumn]) -> pd.DataFrame:
    """run_id x column label -> value."""
    labels = {c.key: c.label for c in columns}
    keyed = results.assign(
        _label=[
            labels.get((s, t, m))
            for s, t, m in zip(results["suite"], results["task"], results["metric"])
        ]
    ).dropna(subset=["_label"])
    if keyed.empty:
        return pd.DataFrame(columns=list(labels.values()), dtype=float)
    matrix = keyed.pivot_table(index="run_id", columns="_label", values="value", aggfunc="last")
    return matrix.reindex(columns=list(labels.values())).astype(float)


def wide_table(
    runs: pd.DataFrame, results: pd.DataFrame, columns: Sequence[MetricColumn]
) -> pd.DataFrame:
    """One row per run in ``runs``: identity columns, then each metric column (NaN if absent)."""
    ids = list(runs["id"]) if not runs.empty else []
    table = pd.DataFrame(
        {
            "Run": pd.Series(ids, dtype="int64"),
            "Model": list(runs["model_id"]) if ids else [],
            "Method": list(runs["method_name"]) if ids else [],
            "Sparsity": pd.Series(list(runs["sparsity"]) if ids else [], dtype="float64"),
            "Layers": [layers_text(d) for d in runs["method_details"]] if ids else [],
            "Device": list(runs["device"]) if ids else [],
            "Status": list(runs["status"]) if ids else [],
        }
    )
    matrix = value_matrix(results, columns).reindex(ids)
    for col in columns:
        table[col.label] = matrix[col.label].to_numpy() if ids else pd.Series(dtype=float)
    tail = ["Layers", "Device", "Status"]  # wide details after the numbers
    return table[[c for c in table.columns if c not in tail] + tail]


def relative_to_dense(
    table: pd.DataFrame,
    runs: pd.DataFrame,
    results: pd.DataFrame,
    columns: Sequence[MetricColumn],
    percent: bool = False,
) -> pd.DataFrame:
    """Each metric as its change from the same model's dense run (the newest one that has the
    metric, on the same device when there is one; blank without one):
    ``value - dense`` (fractions such as accuracy in percentage points, i.e. x100) or, with
    ``percent``, ``100 * (value - dense) / dense``."""
    out = table.copy()
    if table.empty:
        return out
    labels = [c.label for c in columns]
    matrix = value_matrix(results, columns)
    base = np.full((len(table), len(labels)), np.nan)
    for row, (model, device) in enumerate(zip(table["Model"], table["Device"])):
        refs = [i for i in dense_candidates(runs, model, device) if i in matrix.index]
        for j, label in enumerate(labels):
            values_j = (matrix.at[i, label] for i in refs)
            base[row, j] = next((v for v in values_j if not pd.isna(v)), np.nan)
    values = table[labels].to_numpy(dtype=float)
    delta = values - base
    points = [100.0 if c.is_fraction else 1.0 for c in columns]
    out[labels] = 100.0 * delta / base if percent else delta * points
    return out


def sort_table(
    table: pd.DataFrame, label: str, higher_is_better: bool, best_first: bool = True
) -> pd.DataFrame:
    """Sort by one metric, best first by its direction; blanks always last."""
    ascending = (not higher_is_better) if best_first else higher_is_better
    return table.sort_values(label, ascending=ascending, na_position="last", kind="stable")


def best_rows(table: pd.DataFrame, columns: Sequence[MetricColumn]) -> dict[str, list[int]]:
    """label -> positions (0-based rows of ``table``) holding that column's best value."""
    best: dict[str, list[int]] = {}
    for col in columns:
        if col.label not in table:
            continue
        values = pd.to_numeric(table[col.label], errors="coerce").to_numpy(dtype=float)
        finite = [v for v in values if not math.isnan(v)]
        if not finite:
            continue
        target = max(finite) if col.higher_is_better else min(finite)
        best[col.label] = [i for i, v in enumerate(values) if v == target]
    return best


def filter_table(
    table: pd.DataFrame,
    models: Iterable[str] = (),
    methods: Iterable[str] = (),
    devices: Iterable[str] = (),
    sparsity_range: tuple[float, float] | None = None,
    search: str = "",
) -> pd.DataFrame:
    """Empty selections mean "all"; search is a case-insensitive substring of the identity."""
    mask = pd.Series(True, index=table.index)
    if models := list(models):
        mask &= table["Model"].isin(models)
    if methods := list(methods):
        mask &= table["Method"].isin(methods)
    if devices := list(devices):
        mask &= table["Device"].isin(devices)
    if sparsity_range is not None:
        sp = table["Sparsity"].fillna(0.0)
        mask &= (sp >= sparsity_range[0] - 1e-9) & (sp <= sparsity_range[1] + 1e-9)
    if needle := search.strip().lower():
        text = table[["Run", "Model", "Method", "Layers", "Device", "Status"]].astype(str)
        hay = text.apply(lambda row: " ".join(row).lower(), axis=1)
        mask &= hay.str.contains(needle, regex=False)
    return table[mask]


def to_csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False)


def to_json(table: pd.DataFrame) -> str:
    """Records with NaN as null (missing results are absent, not zero)."""
    records = json.loads(table.to_json(orient="records", double_precision=15))
    return json.dumps(records, indent=1)
