"""Which metric columns the leaderboard shows, in what order, under what labels.

Columns come from the stored rows (suite, task, metric + direction, unit, display name), so a
new suite appears without code changes; the built-in suites' declarations
(``harness.suites.declarations``, torch-free) give their order, labels and the compact
default view (the "all metrics" switch shows every stored metric).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from harness.suites.declarations import SuiteDeclaration, builtin_declarations

SPEEDUP = "speedup"  # derived by the leaderboard: tokens/s over the same model's dense run
QUIET_UNITS = ("fraction", "x", "×", "0-100")  # units a column label need not repeat


@cache
def _declarations() -> dict[str, SuiteDeclaration]:
    return builtin_declarations()


def declaration(suite: str) -> SuiteDeclaration | None:
    """The declaration a stored suite is laid out by (``longbench-mini`` -> ``longbench``'s)."""
    return _declarations().get(suite_family(suite))


def suite_family(suite: str) -> str:
    """``longbench-mini`` is laid out like ``longbench`` (but stays a separate column group)."""
    for known in _declarations():
        if suite == known or suite.startswith(known + "-") or suite.startswith(known + "_"):
            return known
    return suite


def split_task(suite: str, task: str) -> tuple[str, str]:
    """(data-set prefix, task) for a suite with prefixed task names: ``mini.average`` ->
    (``mini.``, ``average``); other suites' tasks have no prefix."""
    found = declaration(suite)
    for prefix, _label in found.task_prefixes if found else ():
        if task.startswith(prefix):
            return prefix, task[len(prefix) :]
    return "", task


_PREFILL = re.compile(r"^prefill(-compiled)?/b(\d+)x(\d+)$")
_DECODE = re.compile(r"^decode-([\w-]+)/b(\d+)p(\d+)n(\d+)$")


def task_label(task: str) -> str:
    """A stored task name made readable: throughput shapes (``prefill/b1x2048`` ->
    ``prefill 1x2048``, ``prefill-compiled/b1x2048`` -> ``prefill compiled 1x2048``,
    ``decode-eager/b1p32n8`` -> ``decode eager 1x32+8``: batch x prompt
    + new tokens); other names with spaces for underscores."""
    if found := _PREFILL.match(task):
        mode = " compiled" if found[1] else ""
        return f"prefill{mode} {found[2]}x{found[3]}"
    if found := _DECODE.match(task):
        return f"decode {found[1]} {found[2]}x{found[3]}+{found[4]}"
    return task.replace("_", " ")


@dataclass(frozen=True)
class MetricColumn:
    suite: str
    task: str
    metric: str
    higher_is_better: bool
    unit: str = ""
    display_name: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.suite, self.task, self.metric)

    @property
    def base_task(self) -> str:
        return split_task(self.suite, self.task)[1]

    @property
    def group(self) -> str:
        found = declaration(self.suite)
        label = found.display_name if found else self.suite
        if suite_family(self.suite) != self.suite:
            label = f"{label} ({self.suite})"
        prefix = split_task(self.suite, self.task)[0]
        return f"{label}-{dict(found.task_prefixes)[prefix]}" if found and prefix else label

    @property
    def label(self) -> str:
        """Unique, readable header: ``Zero-shot · PIQA acc_norm ↑``."""
        found = declaration(self.suite)
        base = self.base_task
        name, _, bucket = base.partition("@")
        spec = found.task(name) if found else None
        task = (spec.label if spec else task_label(name)) + (f" @{bucket}" if bucket else "")
        metric_spec = _metric(found, self.metric)
        metric = metric_spec.label if metric_spec else self.display_name or self.metric
        implied = bool(
            found and not found.label_names_metric and metric_spec and metric_spec.compact
        )
        text = task if implied or self.metric == base else f"{task} {metric}"
        if self.unit and self.unit not in (*QUIET_UNITS, self.metric) and self.unit not in text:
            text += f" ({self.unit})"
        return f"{self.group} · {text} {'↑' if self.higher_is_better else '↓'}"

    @property
    def help(self) -> str:
        direction = "higher is better" if self.higher_is_better else "lower is better"
        name = self.display_name or self.metric
        unit = f", unit: {self.unit}" if self.unit else ""
        return f"{self.suite}/{self.task}/{self.metric}: {name} ({direction}{unit})"

    @property
    def is_fraction(self) -> bool:
        return self.unit == "fraction"


def _metric(found: SuiteDeclaration | None, name: str):  # noqa: ANN202 -> MetricSpec | None
    return next((m for m in found.metrics if m.name == name), None) if found else None


def _headline_tasks(found: SuiteDeclaration | None) -> tuple[str, ...]:
    return tuple(t.name for t in found.tasks if t.headline) if found else ()


def sort_key(col: MetricColumn) -> tuple:
    """Suites in declared order; per suite, data-set prefix, then the compact view's tasks in
    declared order before the rest (by name), then metrics in declared order."""
    suites = list(_declarations())
    family = suite_family(col.suite)
    suite_rank = suites.index(family) if family in suites else len(suites)
    found = declaration(col.suite)
    tasks = _headline_tasks(found) if found else ("average",)
    prefix, base = split_task(col.suite, col.task)
    task_rank = tasks.index(base) if base in tasks else len(tasks)
    metrics = found.metric_names if found else ()
    metric_rank = metrics.index(col.metric) if col.metric in metrics else len(metrics)
    return (suite_rank, col.suite, prefix, task_rank, base, metric_rank, col.metric)


def ordered(columns: Iterable[MetricColumn]) -> list[MetricColumn]:
    return sorted(columns, key=sort_key)


def compact(columns: Iterable[MetricColumn]) -> list[MetricColumn]:
    """The default view: per task, the metrics of the lowest declared ``compact`` rank that is
    stored (all metrics where none is, or the suite declares nothing); tasks declared as not
    headline are left to "all metrics"."""
    cols = ordered(columns)
    present: dict[tuple[str, str], set[str]] = {}
    for col in cols:
        present.setdefault((col.suite, col.task), set()).add(col.metric)
    shown = []
    for col in cols:
        found = declaration(col.suite)
        spec = found.task(col.base_task.partition("@")[0]) if found else None
        if spec is not None and not spec.headline:
            continue  # e.g. LongBench's per-data-set scores and their length buckets
        stored = present[(col.suite, col.task)]
        metrics = found.metrics if found else ()
        best = min((m.compact for m in metrics if m.compact and m.name in stored), default=0)
        mine = _metric(found, col.metric)
        if not best or (mine is not None and mine.compact == best):
            shown.append(col)
    return shown


def is_speed(col: MetricColumn) -> bool:
    return suite_family(col.suite) == "throughput"
