"""``skipbench suites``: every registered suite, its tasks, metrics and parameters."""

from __future__ import annotations

import typer

from cli.common import console


def register(app: typer.Typer) -> None:
    app.command("suites")(suites)


def suites() -> None:
    """List registered suites: tasks (* = run by default), metrics (* = in the run table) and
    parameters (with defaults, set with --suite-set SUITE.param=value)."""
    from rich.table import Table

    from harness.suites.base import available_suites
    from skipbench.registry import load_plugins

    load_plugins()
    table = Table(title="Suites")
    table.add_column("name", style="bold")
    table.add_column("description")
    table.add_column("tasks (* default)", overflow="fold")
    table.add_column("metrics (* headline)", overflow="fold")
    table.add_column("parameters (default)", overflow="fold")
    for name, cls in available_suites().items():
        declared = cls.declaration
        tasks = ", ".join(f"{t}{'*' if t in declared.default_tasks else ''}" for t in cls.tasks)
        metrics = ", ".join(f"{m.name}{'*' if m.headline else ''}" for m in declared.metrics)
        params = ", ".join(f"{n}: {t} = {d!r}" for n, t, d in cls.Config.describe()) or "-"
        table.add_row(name, declared.description, tasks or "-", metrics, params)
    console.print(table)
