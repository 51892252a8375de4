"""``skipbench runs reconcile``: close runs left ``running`` by a process that is gone."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.common import console, get_store

runs_app = typer.Typer(help="Run maintenance.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")


@runs_app.command("reconcile")
def reconcile(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (last line)")] = False,
) -> None:
    """Mark runs whose process on this host is gone as failed ("process N on HOST is gone");
    they stay resumable (`skipbench run --resume RUN_ID`). Other hosts' runs are left alone."""
    from harness.run_reconcile import reconcile_runs

    report = reconcile_runs(get_store())
    console.print(report.summary())
    if as_json:
        print(
            json.dumps(
                {
                    "closed": {str(k): v for k, v in report.closed.items()},
                    "alive": report.alive,
                    "elsewhere": report.elsewhere,
                }
            )
        )
