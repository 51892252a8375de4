"""Render run records (the JSON contract) as a rich table or CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.table import Table

from cli.common import console


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"


def _layers(details: dict[str, Any]) -> str:
    for key in ("removed_layers", "selective_layers"):
        if key in details:
            return ",".join(map(str, details[key]))
    return ""


def headline_metrics(suites: set[str]) -> dict[str, tuple[str, ...]]:
    """Per stored suite name, the metrics its declaration marks as headline (none if unknown)."""
    from harness.suites.base import suite_declaration

    found = {name: suite_declaration(name) for name in sorted(suites)}
    return {name: d.headline_metrics if d else () for name, d in found.items()}


def print_runs(records: list[dict[str, Any]], title: str = "") -> None:
    """One row per run; one column per (suite, task, headline metric), arrows show the better
    direction."""
    shown = headline_metrics({r["suite"] for rec in records for r in rec["results"]})
    columns: list[tuple[str, str, str, bool]] = []
    for rec in records:
        for r in rec["results"]:
            key = (r["suite"], r["task"], r["metric"], r["higher_is_better"])
            if r["metric"] in shown[r["suite"]] and key not in columns:
                columns.append(key)
    table = Table(title=title or None)
    for name in ("run", "model", "method", "sparsity", "layers", "status"):
        table.add_column(name, overflow="fold")
    for _suite, task, metric, hib in columns:
        table.add_column(f"{task} {metric} {'↑' if hib else '↓'}", justify="right")
    for rec in records:
        values = {(r["suite"], r["task"], r["metric"]): r["value"] for r in rec["results"]}
        sparsity = rec.get("sparsity")
        table.add_row(
            str(rec.get("run_id") or "-"),
            str(rec["model"]["id"]),
            rec["method"]["name"],
            "" if sparsity is None else f"{sparsity:.0%}",
            _layers(rec["method"].get("details") or {}),
            rec.get("status", ""),
            *(_fmt(values.get((s, t, m))) for s, t, m, _ in columns),
        )
    console.print(table)


def runs_to_csv(records: list[dict[str, Any]]) -> str:
    """Long format: one line per (run, suite, task, metric)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(
        [
            "run_id",
            "status",
            "model",
            "method",
            "sparsity",
            "suite",
            "task",
            "metric",
            "value",
            "stderr",
            "n",
            "higher_is_better",
        ]
    )
    for rec in records:
        for r in rec["results"]:
            writer.writerow(
                [
                    rec["run_id"],
                    rec.get("status"),
                    rec["model"]["id"],
                    rec["method"]["name"],
                    rec.get("sparsity"),
                    r["suite"],
                    r["task"],
                    r["metric"],
                    r["value"],
                    r["stderr"],
                    r["n"],
                    r["higher_is_better"],
                ]
            )
    return buf.getvalue()
