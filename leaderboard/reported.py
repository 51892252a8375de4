"""Numbers published in papers (``skipbench import --reported``, ``db/reported.py``) on the board.

Reported runs (status ``reported``, ``provenance.origin.kind = "reported"``) are kept apart from
measured ones: they get their own table with the source, are ranked with measured rows only on
request, and where SkipBench measured the same model, method, setting, sparsity and protocol the
two values stand side by side with the difference. Plain pandas, tested directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from leaderboard.columns import MetricColumn
from leaderboard.frames import wide_table

KIND = "reported"
REPORTED_STYLE = "font-style: italic; color: #6b5b00; background-color: rgba(255, 204, 0, 0.12)"
INFO_COLUMNS = ["Paper", "arXiv", "Table", "Source"]
SIDE_COLUMNS = [
    "Model", "Method", "Sparsity", "Setting", "Suite", "Task", "Metric", "Reported", "Measured",
    "Difference", "Measured run", "Paper", "Source",
]  # fmt: skip
_TOL = 1e-6
# protocol keys a measured suite config need not carry (they describe the paper's average)
_DESCRIPTIVE = {"average_over", "lm_eval"}


def origin(provenance: Any) -> dict[str, Any]:
    got = provenance.get("origin") if isinstance(provenance, dict) else None
    return got if isinstance(got, dict) else {}


def is_reported(provenance: Any) -> bool:
    return origin(provenance).get("kind") == KIND


def split(
    runs: pd.DataFrame, results: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(measured runs, their results, reported runs, their results)."""
    if runs.empty or "provenance" not in runs:
        return runs, results, runs.iloc[0:0], results.iloc[0:0]
    mask = runs["provenance"].map(is_reported)
    mine, theirs = runs[~mask], runs[mask]
    in_theirs = results["run_id"].isin(theirs["id"])
    return mine, results[~in_theirs], theirs, results[in_theirs]


def setting_text(config: Any, sparsity: Any = None) -> str:
    if not isinstance(config, dict):
        return ""
    return ", ".join(f"{k}={v}" for k, v in sorted(config.items()) if k != "sparsity")


def reported_table(
    runs: pd.DataFrame, results: pd.DataFrame, columns: Sequence[MetricColumn]
) -> pd.DataFrame:
    """One row per reported run: the board's identity and metric columns, its setting, and where
    the numbers were published (paper, arXiv id, table, source URL)."""
    table = wide_table(runs, results, columns)
    if table.empty:
        return table.assign(**{c: pd.Series(dtype=str) for c in ["Setting", *INFO_COLUMNS]})
    by_id = {int(r["id"]): r for r in runs.to_dict("records")}
    origins = [origin(by_id[int(i)]["provenance"]) for i in table["Run"]]
    table["Status"] = KIND
    table.insert(5, "Setting", [setting_text(by_id[int(i)]["method_config"]) for i in table["Run"]])
    for name, key in zip(INFO_COLUMNS, ("paper", "arxiv", "table", "source"), strict=True):
        table[name] = [o.get(key, "") for o in origins]
    return table


def _protocol_matches(protocol: dict[str, Any], suite_config: Any) -> bool:
    config = suite_config if isinstance(suite_config, dict) else {}
    for key, want in protocol.items():
        if key in _DESCRIPTIVE:
            continue
        if config.get(key) != want:
            return False
    return config.get("limit") in (None, 0)  # a paper's number covers the whole split


def _setting_matches(setting: dict[str, Any], config: Any) -> bool:
    config = config if isinstance(config, dict) else {}
    return all(config.get(k) == v for k, v in setting.items() if k != "sparsity")


def _same_sparsity(a: Any, b: Any) -> bool:
    fa = 0.0 if a is None or (isinstance(a, float) and math.isnan(a)) else float(a)
    fb = 0.0 if b is None or (isinstance(b, float) and math.isnan(b)) else float(b)
    return abs(fa - fb) <= _TOL


def side_by_side(
    runs: pd.DataFrame,
    results: pd.DataFrame,
    reported_runs: pd.DataFrame,
    reported_results: pd.DataFrame,
) -> pd.DataFrame:
    """Each reported number that SkipBench measured the same way (model, method, the reported
    setting, sparsity, suite protocol, whole split; newest succeeded run): both values and the
    difference measured - reported, in the stored unit."""
    rows: list[dict[str, Any]] = []
    if reported_runs.empty or runs.empty:
        return pd.DataFrame(columns=SIDE_COLUMNS)
    measured = [r for r in runs.to_dict("records") if r.get("status") == "succeeded"]
    values = {
        (int(r.run_id), r.suite, r.task, r.metric): float(r.value) for r in results.itertuples()
    }
    for rep in reported_runs.to_dict("records"):
        info = origin(rep["provenance"])
        (suite,) = list(rep["suites"] or {"": None})[:1] or [""]
        protocol = info.get("protocol") or {}
        setting = rep["method_config"] or {}
        twins = sorted(
            (
                m
                for m in measured
                if m["model_id"] == rep["model_id"]
                and m["method_name"] == rep["method_name"]
                and _same_sparsity(m["sparsity"], rep["sparsity"])
                and _setting_matches(setting, m["method_config"])
                and suite in (m["suites"] or {})
                and _protocol_matches(protocol, (m["suites"] or {}).get(suite))
            ),
            key=lambda m: -int(m["id"]),
        )
        mine = reported_results[reported_results["run_id"] == rep["id"]]
        for r in mine.itertuples():
            twin = next(
                (m for m in twins if (int(m["id"]), r.suite, r.task, r.metric) in values), None
            )
            if twin is None:
                continue
            got = values[(int(twin["id"]), r.suite, r.task, r.metric)]
            rows.append(
                {
                    "Model": rep["model_id"],
                    "Method": rep["method_name"],
                    "Sparsity": rep["sparsity"],
                    "Setting": setting_text(setting),
                    "Suite": r.suite,
                    "Task": r.task,
                    "Metric": r.metric,
                    "Reported": float(r.value),
                    "Measured": got,
                    "Difference": got - float(r.value),
                    "Measured run": int(twin["id"]),
                    "Paper": info.get("paper", ""),
                    "Source": info.get("source", ""),
                }  # fmt: skip
            )
    return pd.DataFrame(rows, columns=SIDE_COLUMNS)


def ranked_together(table: pd.DataFrame, reported: pd.DataFrame) -> pd.DataFrame:
    """The board with the reported rows appended (asked for: they are then sorted and
    highlighted with the measured rows); the board's columns only."""
    if reported.empty:
        return table
    return pd.concat(
        [table, reported[[c for c in table.columns if c in reported]]], ignore_index=True
    )
