"""What a suite reports, declared without torch: its tasks, its metrics and how to show them.

Each built-in suite is a folder ``harness/suites/<name>/`` with ``declaration.py`` (a
``SuiteDeclaration`` named ``DECLARATION``, importing nothing heavier than this module) and
``suite.py`` (the ``Suite`` subclass). The folder is the whole registration: ``builtin_names``
finds it by walking this package, so the CLI table, ``skipbench suites`` and the leaderboard
(which must never import torch) read the same declarations as the suite itself.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache

from skipbench.errors import InvalidInput


@dataclass(frozen=True)
class MetricSpec:
    """One metric a suite stores; the first four fields go into every result row.

    ``headline``: shown in ``skipbench run``'s table. ``compact``: the leaderboard's compact
    view shows, per task, the stored metrics with the lowest nonzero ``compact`` rank (a task
    with none of them shows all its metrics); 0 keeps a metric to the "all metrics" view.
    """

    name: str
    display_name: str
    higher_is_better: bool
    unit: str = ""
    description: str = ""
    short_name: str = ""  # column label in tables ("ppl"); default: the name
    headline: bool = False
    compact: int = 0

    @property
    def label(self) -> str:
        return self.short_name or self.name


@dataclass(frozen=True)
class TaskSpec:
    """One task name a suite stores results under, in display order.

    ``selectable``: a ``--task`` choice (False for what the suite derives, like an average);
    ``default``: run when no task is chosen; ``headline``: a column of the leaderboard's compact
    view (False: "all metrics" only); ``group``: the family it belongs to (LongBench category).
    """

    name: str
    display_name: str = ""
    group: str = ""
    selectable: bool = True
    default: bool = True
    headline: bool = True
    description: str = ""

    @property
    def label(self) -> str:
        return self.display_name or self.name.replace("_", " ")


@dataclass(frozen=True)
class SuiteDeclaration:
    """A suite's name, tasks and metrics, and the few layout facts tables need.

    ``order``: position among suites in tables. ``task_prefixes``: stored-task prefixes that name
    a data-set variant, with the label added to the column group: ``(("mini.", "mini"),)``.
    ``label_names_metric``: False where each task has one compact metric, so a column label
    is the task alone ("WikiText-2", not "WikiText-2 ppl").
    """

    name: str
    display_name: str
    description: str
    tasks: tuple[TaskSpec, ...]
    metrics: tuple[MetricSpec, ...]
    order: int = 1000
    task_prefixes: tuple[tuple[str, str], ...] = ()
    label_names_metric: bool = True

    def __post_init__(self) -> None:
        for what, names in (("task", self.task_names), ("metric", self.metric_names)):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"suite {self.name!r} declares {what}(s) {dupes} twice")

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks)

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics)

    @property
    def selectable_tasks(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks if t.selectable)

    @property
    def default_tasks(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks if t.selectable and t.default)

    @property
    def headline_metrics(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics if m.headline)

    def task(self, name: str) -> TaskSpec | None:
        return next((t for t in self.tasks if t.name == name), None)

    def metric(self, name: str) -> MetricSpec:
        for spec in self.metrics:
            if spec.name == name:
                return spec
        raise KeyError(f"suite {self.name} declares no metric {name!r}")


def builtin_names() -> dict[str, str]:
    """Built-in suite name -> the module holding its ``Suite`` (one folder per suite)."""
    return {name: f"{__package__}.{name}.suite" for name in _folders()}


@cache
def _folders() -> tuple[str, ...]:
    package = importlib.import_module(__package__)
    return tuple(sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.ispkg))


def builtin_declaration(name: str) -> SuiteDeclaration:
    if name not in _folders():
        raise InvalidInput(f"no built-in suite {name!r}; built-in: {', '.join(_folders())}")
    module = importlib.import_module(f"{__package__}.{name}.declaration")
    return module.DECLARATION


def builtin_declarations() -> dict[str, SuiteDeclaration]:
    """Every built-in suite's declaration, in table order (torch-free: the leaderboard reads these)."""
    found = [builtin_declaration(name) for name in _folders()]
    return {d.name: d for d in sorted(found, key=lambda d: (d.order, d.name))}
