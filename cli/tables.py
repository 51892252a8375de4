"""Render run records (the JSON contract) as a rich table or CSV.

The table fits the terminal: identity columns first (model names abbreviated), then each
suite's declared headline metrics in order while they fit; what is left out is named under
the table and is always in ``--format csv`` (long, or ``--wide``: one line per run with
layers, device, units and the evaluation settings) and ``--format json``.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.table import Table

from cli.common import console
from leaderboard.columns import task_label
from leaderboard.fields import calibration_text, limit_text, seq_len_text, strategy_text
from skipbench.records import RESULT_KEYS

MODEL_CHARS = 22  # a model id longer than this is shortened in the table (full in csv/json)


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"


def _layers(details: dict[str, Any]) -> str:
    for key in ("removed_layers", "removed_sublayers", "selective_layers"):
        if key in details:
            return ",".join(map(str, details[key]))
    return ""


def short_model(model_id: str, limit: int = MODEL_CHARS) -> str:
    """``HuggingFaceTB/SmolLM2-135M-Instruct`` -> ``SmolLM2-135M-Instruct``; a local path's last
    folder; longer than ``limit``: its start and end around an ellipsis."""
    name = str(model_id).rstrip("/").rsplit("/", 1)[-1] or str(model_id)
    if len(name) <= limit:
        return name
    keep = limit - 1
    return name[: keep - keep // 3] + "…" + name[len(name) - keep // 3 :]


def headline_metrics(suites: set[str]) -> dict[str, tuple[str, ...]]:
    """Per stored suite name, the metrics its declaration marks as headline (none if unknown)."""
    from harness.suites.base import suite_declaration

    found = {name: suite_declaration(name) for name in sorted(suites)}
    return {name: d.headline_metrics if d else () for name, d in found.items()}


def _metric_label(suite: str, metric: str) -> str:
    from harness.suites.base import suite_declaration

    found = suite_declaration(suite)
    spec = next((m for m in found.metrics if m.name == metric), None) if found else None
    return spec.label if spec else metric


def _columns(records: list[dict[str, Any]]) -> list[tuple[str, str, str, bool]]:
    shown = headline_metrics({r["suite"] for rec in records for r in rec["results"]})
    columns: list[tuple[str, str, str, bool]] = []
    for rec in records:
        for r in rec["results"]:
            key = (r["suite"], r["task"], r["metric"], r["higher_is_better"])
            if r["metric"] in shown[r["suite"]] and key not in columns:
                columns.append(key)
    return columns


def _width(texts: list[str]) -> int:
    return max((len(line) for t in texts for line in t.split("\n")), default=0)


def print_runs(records: list[dict[str, Any]], title: str = "", width: int | None = None) -> None:
    """One row per run; one column per (suite, task, headline metric), arrows show the better
    direction; columns are added while they fit in ``width`` (the console's by default)."""
    width = width or console.width
    columns = _columns(records)
    ident: dict[str, list[str]] = {
        "run": [str(rec.get("run_id") or "-") for rec in records],
        "model": [short_model(rec["model"]["id"]) for rec in records],
        "method": [rec["method"]["name"] for rec in records],
        "sparsity": [
            "" if rec.get("sparsity") is None else f"{rec['sparsity']:.0%}" for rec in records
        ],
    }
    optional: dict[str, list[str]] = {
        "status": [rec.get("status", "") for rec in records],
        "layers": [_layers(rec["method"].get("details") or {}) for rec in records],
    }
    metric_cells = []
    for suite, task, metric, hib in columns:
        header = f"{task_label(task)}\n{_metric_label(suite, metric)} {'↑' if hib else '↓'}"
        values = {
            rec_i: r["value"]
            for rec_i, rec in enumerate(records)
            for r in rec["results"]
            if (r["suite"], r["task"], r["metric"]) == (suite, task, metric)
        }
        metric_cells.append((header, [_fmt(values.get(i)) for i in range(len(records))]))

    def cost(header: str, cells: list[str], cap: int = 0) -> int:
        body = _width(cells)
        head = _width([header]) if not cap else min(_width([header]), max(cap, body))
        return max(body, head) + 3  # padding and the border

    used = 1 + sum(cost(name, cells) for name, cells in ident.items())
    picked, left_out = [], []
    for header, cells in metric_cells:  # metrics before the optional identity columns
        need = cost(header, cells, cap=10)
        if used + need <= width:
            picked.append((header, cells))
            used += need
        else:
            left_out.append(header.replace("\n", " "))
    extras = []
    for name, cells in optional.items():
        if name == "status" and set(cells) <= {"succeeded"}:
            continue  # all succeeded: the column says nothing
        if any(cells) and used + cost(name, cells) <= width:
            extras.append((name, cells))
            used += cost(name, cells)
        elif any(cells):
            left_out.append(name)
    table = Table(title=title or None)
    for name in ident:
        table.add_column(name, no_wrap=True)
    for name, _ in extras:
        table.add_column(name, no_wrap=True)
    for header, cells in picked:
        table.add_column(header, justify="right", no_wrap=True, min_width=_width(cells))
    for i in range(len(records)):
        table.add_row(
            *(cells[i] for cells in ident.values()),
            *(cells[i] for _, cells in extras),
            *(cells[i] for _, cells in picked),
        )
    console.print(table, width=max(width, used))
    if left_out:
        console.print(
            f"[dim]{len(left_out)} more column(s) not shown at this width: {', '.join(left_out)}."
            " See --format csv (--wide) or json.[/dim]",
            soft_wrap=True,
        )


# a result's columns in the long CSV: run_to_dict's result keys less unit and display name
CSV_RESULT_KEYS = tuple(k for k in RESULT_KEYS if k not in ("unit", "display_name"))


def runs_to_csv(records: list[dict[str, Any]]) -> str:
    """Long format: one line per (run, suite, task, metric)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["run_id", "status", "model", "method", "sparsity", *CSV_RESULT_KEYS])
    for rec in records:
        for r in rec["results"]:
            writer.writerow(
                [
                    rec["run_id"],
                    rec.get("status"),
                    rec["model"]["id"],
                    rec["method"]["name"],
                    rec.get("sparsity"),
                    *(r[key] for key in CSV_RESULT_KEYS),
                ]
            )
    return buf.getvalue()


WIDE_FIELDS = [
    "run_id", "merged_runs", "status", "model", "model_hash", "dtype", "method", "sparsity",
    "method_config", "strategy", "layers", "device", "limit", "seq_len", "calibration",
    "suite_config",
]  # fmt: skip


def _pairs(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}={_pairs(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "" if value is None else str(value)


def runs_to_wide_csv(records: list[dict[str, Any]]) -> str:
    """Wide format: one line per run (or merged row) with its layers, device and evaluation
    settings, then one column per stored metric headed ``suite/task/metric [unit] (↑|↓)``."""
    metrics: dict[tuple[str, str, str], str] = {}
    for rec in records:
        for r in rec["results"]:
            unit = f" [{r['unit']}]" if r.get("unit") else ""
            arrow = "↑" if r["higher_is_better"] else "↓"
            metrics.setdefault(
                (r["suite"], r["task"], r["metric"]),
                f"{r['suite']}/{r['task']}/{r['metric']}{unit} ({arrow})",
            )
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([*WIDE_FIELDS, *metrics.values()])
    for rec in records:
        details = rec["method"].get("details") or {}
        suites = rec.get("suites") or {}
        values = {(r["suite"], r["task"], r["metric"]): r["value"] for r in rec["results"]}
        writer.writerow(
            [
                rec["run_id"],
                _pairs(rec.get("merged_runs") or [rec["run_id"]]),
                rec.get("status"),
                rec["model"]["id"],
                rec["model"].get("hash") or "",
                rec["model"].get("dtype") or "",
                rec["method"]["name"],
                rec.get("sparsity"),
                _pairs(rec["method"].get("config") or {}),
                strategy_text(rec["method"].get("config"), details),
                _layers(details),
                (rec.get("provenance") or {}).get("device") or "",
                limit_text(suites),
                seq_len_text(suites),
                calibration_text(details),
                " | ".join(f"{name}: {_pairs(cfg)}" for name, cfg in suites.items()),
                *(values.get(key, "") for key in metrics),
            ]
        )
    return buf.getvalue()
