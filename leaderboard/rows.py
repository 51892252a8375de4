"""Leaderboard rows: runs merged per subject and evaluation (``db.evaluation``), and each value
relative to the dense row measured the same way."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from db.evaluation import (
    MergedRow,
    SuiteEvaluation,
    dense_match,
    is_speed_suite,
    merge_runs,
    pick_results,
    pool_seeds,
    subject,
    suite_evaluation,
)
from leaderboard.columns import MetricColumn
from leaderboard.frames import value_matrix
from leaderboard.speed_checks import CPU_NOTE, run_warnings


@dataclass
class Merged:
    """``runs``: one line per row (its anchor run's fields, plus ``run_ids``, ``evaluation`` and
    the speed suite's device); ``results``: each row's values keyed by the anchor's id."""

    runs: pd.DataFrame
    results: pd.DataFrame
    rows: list[MergedRow]

    def row_of(self) -> dict[int, MergedRow]:
        """Every merged run id -> its row (a run is placed in exactly one row)."""
        return {
            i: r
            for r in self.rows
            for s, ids in r.sources.items()
            if s not in r.shared
            for i in ids
        }


def merge(runs: pd.DataFrame, results: pd.DataFrame) -> Merged:
    """One row per subject and evaluation, suites merged across runs (newest value wins)."""
    suites_of: dict[int, set[str]] = {}
    for run_id, suite in zip(results["run_id"], results["suite"]):
        suites_of.setdefault(int(run_id), set()).add(suite)
    records = runs.to_dict("records") if not runs.empty else []
    rows = merge_runs(records, suites_of)
    by_id = {int(r["id"]): r for r in records}
    lines, picked = [], []
    for row, text, config in zip(rows, evaluation_texts(rows), config_texts(rows), strict=True):
        line = dict(by_id[row.anchor])
        line["run_ids"] = row.run_ids
        # every merged suite's stored config (from the run it came from), for Limit / Seq len
        line["suites"] = {
            suite: ((by_id[ids[0]].get("suites") or {}).get(suite) if ids[0] in by_id else None)
            for suite, ids in sorted(row.sources.items())
        }
        line["evaluation"] = text
        line["config"] = config
        speed = [e for s, e in row.evaluations.items() if is_speed_suite(s)]
        if speed:
            line["device"] = json.loads(dict(speed[0].settings)["device"])
        mine = results[results["run_id"].isin(row.run_ids)]
        chosen = pool_seeds(row, pick_results(row, mine.to_dict("records")))
        line["seeds"] = seeds_text(row, chosen)
        line["speed_check"] = speed_check(line, chosen)
        lines.append(line)
        picked += [{**r, "run_id": row.anchor} for r in chosen]
    frame = pd.DataFrame(
        lines, columns=[*runs.columns, "run_ids", "config", "evaluation", "speed_check", "seeds"]
    )
    return Merged(frame, pd.DataFrame(picked, columns=results.columns), rows)


def seeds_text(row: MergedRow, pooled: Sequence[dict[str, Any]]) -> str:
    """A seed-pooled row's seeds and each metric's spread: ``5 seeds (0-4); sd wikitext2
    perplexity 3.1`` (values shown are the means); blank for other rows."""
    if not row.seeds:
        return ""
    seeds = sorted(set(row.seeds.values()))
    spreads = [f"{r['task']} {r['metric']} {r['spread']:.4g}" for r in pooled if "spread" in r]
    return f"{len(seeds)} seeds ({', '.join(map(str, seeds))}); sd " + ", ".join(spreads)


def speed_check(run: Any, results: Sequence[dict[str, Any]]) -> str:
    """The warnings of ``speed_checks`` for one line's throughput results (flags marked ⚠)."""
    warnings = run_warnings(
        results, run.get("method_details"), str(run.get("method_name", "")), run.get("device")
    )
    return "; ".join(w if w == CPU_NOTE else "⚠ " + w for w in warnings)


def with_speed_checks(runs: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """``runs`` (one line per run) with a ``speed_check`` column."""
    by_run = {k: g.to_dict("records") for k, g in results.groupby("run_id")}
    texts = [speed_check(r, by_run.get(int(r["id"]), [])) for r in runs.to_dict("records")]
    return runs.assign(speed_check=texts)


def config_texts(rows: Sequence[MergedRow]) -> list[str]:
    """Per row, the method config fields in which it differs from other rows of the same model
    and method (``layers=last``), and the layers it removed where a row of the same config
    removed others (``removed_layers=4,5,12,13,14,17``): what tells two such rows apart."""
    out = []
    for row in rows:
        mine = json.loads(row.subject.method_config)
        theirs = [
            json.loads(r.subject.method_config)
            for r in rows
            if r.subject != row.subject
            and (r.subject.model, r.subject.method_name)
            == (row.subject.model, row.subject.method_name)
            and r.subject.method_config != row.subject.method_config
        ]
        differ = sorted(k for k in mine if any(t.get(k) != mine[k] for t in theirs))
        keep = [k for k in differ if k != "sparsity"]  # the Sparsity column shows it
        parts = [f"{k}={mine[k]}" for k in keep]
        if _structure_twins(row, rows):  # same config, other layers (a near tie on other hardware)
            structure = json.loads(row.subject.structure)
            parts += [f"{k}={','.join(map(str, v))}" for k, v in structure.items()]
        out.append(", ".join(parts))
    return out


def _structure_twins(row: MergedRow, rows: Sequence[MergedRow]) -> bool:
    """Another row of the same model, method and config that removed other layers."""
    me = row.subject
    return bool(me.structure) and any(
        (r.subject.model, r.subject.method_name, r.subject.method_config)
        == (me.model, me.method_name, me.method_config)
        and r.subject.structure != me.structure
        for r in rows
    )


def evaluation_texts(rows: Sequence[MergedRow]) -> list[str]:
    """Per row, the suite settings in which it differs from other rows of its subject
    (``perplexity: limit=1, seq_len=256``); blank when the subject has one row."""
    out = []
    for row in rows:
        others = [r for r in rows if r is not row and r.subject == row.subject]
        parts = []
        for suite, ev in sorted(row.evaluations.items()):
            mine = dict(ev.settings)
            theirs = [dict(o.evaluations[suite].settings) for o in others if suite in o.evaluations]
            differ = [k for k in mine if any(t.get(k) != mine[k] for t in theirs)]
            if differ:
                shown = SuiteEvaluation(suite, tuple((k, mine[k]) for k in differ))
                parts.append(f"{suite}: {shown.describe()}")
        out.append("; ".join(parts))
    return out


def _evaluation_at(
    run_id: int, suite: str, row_of: dict[int, MergedRow], runs_by_id: dict[int, Any]
) -> SuiteEvaluation | None:
    row = row_of.get(run_id)
    if row is not None and suite in row.evaluations:
        return row.evaluations[suite]
    run = runs_by_id.get(run_id)
    return suite_evaluation(run, suite) if run is not None else None


def dense_baselines(
    table: pd.DataFrame, runs: pd.DataFrame, results: pd.DataFrame, columns: Sequence[MetricColumn]
) -> np.ndarray:
    """rows of ``table`` x ``columns``: the value of the same model's dense row whose suite was
    measured the same way (same settings, data hashes and, for speed, device); NaN if none."""
    base = np.full((len(table), len(columns)), np.nan)
    if table.empty or runs.empty:
        return base
    merged = merge(runs, results)
    row_of = merged.row_of()
    matrix = value_matrix(merged.results, columns)
    runs_by_id = {int(r["id"]): r for r in runs.to_dict("records")}
    for i, run_id in enumerate(table["Run"]):
        run = runs_by_id.get(int(run_id))
        if run is None:
            continue
        model = subject(run).model
        for j, col in enumerate(columns):
            evaluation = _evaluation_at(int(run_id), col.suite, row_of, runs_by_id)
            dense = dense_match(merged.rows, model, evaluation) if evaluation else None
            if dense is not None and dense.anchor in matrix.index:
                base[i, j] = matrix.at[dense.anchor, col.label]
    return base


def relative_to_dense(
    table: pd.DataFrame,
    runs: pd.DataFrame,
    results: pd.DataFrame,
    columns: Sequence[MetricColumn],
    percent: bool = False,
) -> pd.DataFrame:
    """Each metric as its change from the dense row measured the same way (``dense_baselines``;
    blank without one): ``value - dense`` (fractions such as accuracy in percentage points,
    i.e. x100) or, with ``percent``, ``100 * (value - dense) / dense``."""
    out = table.copy()
    if table.empty:
        return out
    labels = [c.label for c in columns]
    base = dense_baselines(table, runs, results, columns)
    values = table[labels].to_numpy(dtype=float)
    delta = values - base
    points = [100.0 if c.is_fraction else 1.0 for c in columns]
    out[labels] = 100.0 * delta / base if percent else delta * points
    return out


def without_baseline(
    table: pd.DataFrame, runs: pd.DataFrame, results: pd.DataFrame, columns: Sequence[MetricColumn]
) -> dict[int, list[str]]:
    """Run -> suites that have a value in ``table`` but no dense row measured the same way."""
    base = dense_baselines(table, runs, results, columns)
    values = table[[c.label for c in columns]].to_numpy(dtype=float) if len(table) else base
    out: dict[int, list[str]] = {}
    for i, run_id in enumerate(table["Run"]):
        lacking = {
            c.suite
            for j, c in enumerate(columns)
            if not np.isnan(values[i, j]) and np.isnan(base[i, j])
        }
        if lacking:
            out[int(run_id)] = sorted(lacking)
    return out
