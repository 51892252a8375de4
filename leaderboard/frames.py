"""The leaderboard's table logic in plain pandas (no Streamlit): tested directly.

Runs and results come in as the dicts of ``db.queries``; the wide table has one row per run or
per merged row (``leaderboard.rows``), identity columns first, then one column per metric (``MetricColumn.label``). Missing results
stay NaN (shown blank), never zero.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from db.evaluation import subject, suite_evaluation
from leaderboard.columns import SPEEDUP, MetricColumn, ordered, suite_family
from leaderboard.fields import SETTING_COLUMNS, setting_values

# pinned on the board: what the row is; then where and how it ran, before the numbers
PINNED_COLUMNS = ["Run", "Model", "Method", "Sparsity", "Strategy"]
ID_COLUMNS = [*PINNED_COLUMNS, "Layers", "Device", "Status"]
# after the numbers: the evaluation settings, then the merged row's details
SETTINGS_TAIL = [c for c in SETTING_COLUMNS if c not in PINNED_COLUMNS]
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


DERIVED_SPEEDUP = "Speedup over dense (tokens/s ratio, dense run)"  # marks rows made here


def with_speedup(results: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Add ``speedup`` rows: a throughput task's tokens/s over the newest succeeded dense run of
    the same model (id, weights hash, dtype) whose throughput was measured the same way (same
    settings and device, ``db.evaluation``); dense itself gets 1.0. No such run: no speedup.

    A speedup the suite stored itself (dense timed in the same process) is kept as it is.
    """
    tps = results[(results["metric"] == "tokens_per_s") & results["suite"].map(_is_throughput)]
    if tps.empty or runs.empty:
        return results
    stored = results[results["metric"] == SPEEDUP]
    measured = set(zip(stored["run_id"], stored["suite"], stored["task"], strict=True))
    by_run = {int(r["id"]): r for r in runs.to_dict("records")}
    lookup = {(r.run_id, r.suite, r.task): r.value for r in tps.itertuples()}
    dense = sorted(
        (r for r in by_run.values() if r["status"] == "succeeded" and r["method_name"] == "dense"),
        key=lambda r: -int(r["id"]),
    )
    extra = []
    for r in tps.itertuples():
        run = by_run.get(int(r.run_id))
        if run is None or (r.run_id, r.suite, r.task) in measured:
            continue
        mine = suite_evaluation(run, r.suite)
        refs = [
            int(d["id"])
            for d in dense
            if subject(d).model == subject(run).model and suite_evaluation(d, r.suite).matches(mine)
        ]
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
    """What the method did to the layers, removal order kept: ``removed 25,26,21``,
    ``removed attn.17,mlp.3`` (sublayers), ``selective 21,22``."""
    if not isinstance(details, dict):
        return ""
    if details.get("removed_layers"):
        return "removed " + ",".join(map(str, details["removed_layers"]))
    if details.get("removed_sublayers"):
        return "removed " + ",".join(map(str, details["removed_sublayers"]))
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


EXTRA_COLUMNS = {
    "Runs": "run_ids", "Config": "config", "Evaluation": "evaluation", "Speed check": "speed_check",
    "Seeds": "seeds",
}  # fmt: skip


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(f"#{v}" for v in value)
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def wide_table(
    runs: pd.DataFrame, results: pd.DataFrame, columns: Sequence[MetricColumn]
) -> pd.DataFrame:
    """One row per line of ``runs`` (runs, or merged rows keyed by their anchor run):
    ``ID_COLUMNS``, each metric column (NaN if absent), then the evaluation settings
    (``SETTINGS_TAIL``) and details (``EXTRA_COLUMNS`` if present)."""
    ids = list(runs["id"]) if not runs.empty else []
    settings = [setting_values(r) for r in runs.to_dict("records")] if ids else []
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
    for name in SETTING_COLUMNS:
        table[name] = [s[name] for s in settings]
    for name, field in EXTRA_COLUMNS.items():  # merged rows (leaderboard.rows) carry these
        if field in runs:
            table[name] = [_text(v) for v in runs[field]] if ids else []
    matrix = value_matrix(results, columns).reindex(ids)
    for col in columns:
        table[col.label] = matrix[col.label].to_numpy() if ids else pd.Series(dtype=float)
    tail = [*SETTINGS_TAIL, *EXTRA_COLUMNS]  # wide details after the numbers
    head = [c for c in ID_COLUMNS if c in table]
    body = [c for c in table.columns if c not in head and c not in tail]
    return table[head + body + [c for c in tail if c in table]]


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
        fields = ["Run", "Model", "Method", "Strategy", "Layers", "Device", "Status", "Config",
                  "Evaluation", "Limit", "Calibration"]  # fmt: skip
        text = table[[f for f in fields if f in table]].astype(str)
        hay = text.apply(lambda row: " ".join(row).lower(), axis=1)
        mask &= hay.str.contains(needle, regex=False)
    return table[mask]


def to_csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False)


def to_json(table: pd.DataFrame) -> str:
    """Records with NaN as null (missing results are absent, not zero)."""
    records = json.loads(table.to_json(orient="records", double_precision=15))
    return json.dumps(records, indent=1)
