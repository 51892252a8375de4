"""``skipbench sweep GRID.yaml`` (run, --submit, --dry-run) and ``skipbench sweep status GRID.yaml``.

Every cell is validated before anything runs; errors are printed one line per cell (exit 2).
Cells whose evaluation is already stored (a succeeded run with the same ``RunSpec.key()``) are
skipped, so a rerun picks up where the last one stopped; a failed or interrupted attempt is
resumed at its first suite not yet stored. A failed cell never stops the sweep.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from cli.common import console, err
from cli.sweep_exec import cell_action, export_grid, key_states_of, run_all, submit_all

if TYPE_CHECKING:
    from cli.sweep_grid import Cell, Grid
    from db.run_index import KeyState


class _DefaultRun(TyperGroup):
    """``sweep GRID.yaml`` means ``sweep run GRID.yaml``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


sweep_app = typer.Typer(
    cls=_DefaultRun,
    no_args_is_help=True,
    help="Run a grid of models x methods x sparsities x suites (see docs/sweeps-and-bundles.md).",
)
GridArg = Annotated[Path, typer.Argument(help="grid YAML file", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the cells as JSON (last line)")]


def register(app: typer.Typer) -> None:
    app.add_typer(sweep_app, name="sweep")


# -- planning ---------------------------------------------------------------------------------
def _model_problem(source: str, suite: str, cache: dict[str, str | None]) -> str | None:
    """Whether the model can be found here (and, for random weights, whether the suite allows it)."""
    from harness.models import resolve_source
    from harness.suites.base import suite_class
    from skipbench.errors import InvalidInput

    if source not in cache:
        try:
            cache[source] = resolve_source(source).kind
        except InvalidInput as exc:
            cache[source] = f"error: {exc}"
    kind = cache[source]
    if kind is not None and kind.startswith("error: "):
        return kind.removeprefix("error: ")
    if kind == "random" and suite_class(suite).needs_real_weights:
        return (
            f"model {source!r} has random weights; suite {suite} measures quality and needs real "
            "weights (only 'throughput' accepts config: models)"
        )
    return None


def plan(grid_file: Path, check_models: bool) -> tuple[Grid, list[tuple[Cell, Any]]]:
    """The grid's valid cells with their RunSpecs; any invalid cell: one line each, exit 2."""
    from cli.sweep_grid import cell_spec, expand, load_grid
    from harness.runner import prepare
    from skipbench.errors import InvalidInput

    grid = load_grid(grid_file)
    cells = expand(grid)
    if not cells:
        raise InvalidInput(f"grid {str(grid_file)!r} expands to no cells (check the sparsities)")
    planned: list[tuple[Cell, Any]] = []
    errors: list[str] = []
    models: dict[str, str | None] = {}
    seen: dict[str, int] = {}
    for cell in cells:
        try:
            spec = cell_spec(grid, cell)
            prepare(spec)
            problem = (
                _model_problem(spec.model.source, cell.suite.name, models) if check_models else None
            )
            if problem:
                raise InvalidInput(problem)
        except InvalidInput as exc:
            errors.append(f"error: cell {cell.index} ({cell.label}): {exc}")
            continue
        key = spec.key()
        if key in seen:
            err(f"note: cell {cell.index} is the same evaluation as cell {seen[key]}; listed once")
            continue
        seen[key] = cell.index
        planned.append((cell, spec))
    if errors:
        for line in errors:
            err(line)
        err(f"{len(errors)} of {len(cells)} cells are invalid; nothing was run")
        raise typer.Exit(2)
    return grid, planned


def _cell_json(cell: Cell, spec: Any, state: KeyState) -> dict[str, Any]:
    return {
        "cell": cell.index,
        "model": cell.model.source,
        "method": cell.method.name,
        "method_params": dict(cell.method.params),
        "sparsity": cell.sparsity,
        "suite": cell.suite.name,
        "tasks": list(cell.suite.tasks),
        "key": spec.key(),
        "state": state.state,
        "run_id": state.succeeded.id if state.succeeded else None,
        "job_id": state.job.id if state.job else None,
        "error": state.error,
    }


def _print_table(title: str, rows: list[dict[str, Any]], action: dict[int, str] | None) -> None:
    from rich.table import Table

    table = Table(title=title)
    for name in ("#", "model", "method", "sparsity", "suite", "state", "where", "note"):
        table.add_column(name, overflow="fold")
    for row in rows:
        sparsity = "-" if row["sparsity"] is None else f"{row['sparsity']:g}"
        note = action[row["cell"]] if action else (row["error"] or "")
        method = row["method"] + (
            " " + ",".join(f"{k}={v}" for k, v in row["method_params"].items())
            if row["method_params"]
            else ""
        )
        suite = row["suite"] + (f" [{','.join(row['tasks'])}]" if row["tasks"] else "")
        where = (
            f"run {row['run_id']}"
            if row["run_id"]
            else (f"job {row['job_id']}" if row["job_id"] else "")
        )
        table.add_row(
            str(row["cell"]), row["model"], method, sparsity, suite, row["state"], where, note
        )
    console.print(table)


def _counts(rows: list[dict[str, Any]]) -> str:
    order = ("done", "queued", "running", "failed", "pending")
    counts = {s: sum(r["state"] == s for r in rows) for s in order}
    return f"{len(rows)} cells: " + ", ".join(f"{counts[s]} {s}" for s in order)


# -- commands ---------------------------------------------------------------------------------
@sweep_app.command("run")
def run(
    grid_file: GridArg,
    submit: Annotated[
        bool, typer.Option("--submit", help="queue the cells for workers instead of running here")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="list the cells and what is already stored; run nothing"),
    ] = False,
    queue: Annotated[
        str | None, typer.Option("--queue", help="Celery queue for --submit (default: the setting)")
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="after each cell, rewrite this bundle with the grid's succeeded runs "
            "(a machine that stops keeps what it ran)",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run every cell of GRID not yet stored (here, one after another, or --submit to workers)."""
    from db import bundle_format
    from skipbench.errors import InvalidInput
    from skipbench.settings import get_settings
    from workers.plugins import load_plugins

    if export is not None:
        bundle_format.check_name(export, "--export")
        if submit:
            raise InvalidInput(
                "--export writes the runs of cells run here; it cannot go with --submit"
            )
    url = get_settings().db_url
    load_plugins()  # methods or suites from SKIPBENCH_PLUGINS, as workers and `submit` load them
    grid, planned = plan(grid_file, check_models=not submit)
    states = key_states_of(url, planned)
    rows = [_cell_json(cell, spec, states[spec.key()]) for cell, spec in planned]
    if dry_run:
        action = {row["cell"]: cell_action(states[row["key"]], submit) for row in rows}
        _print_table(f"sweep {grid.name or grid_file.name} (dry run)", rows, action)
        console.print(_counts(rows), highlight=False)
        if as_json:
            print(json.dumps([{**r, "action": action[r["cell"]]} for r in rows], default=str))
        return
    if submit:
        failed = submit_all(planned, states, queue)
    else:
        on_done = (
            (lambda: export_grid(url, grid.name or grid_file.stem, planned, export))
            if export
            else None
        )
        failed = run_all(planned, states, on_done)
    if as_json:
        fresh = key_states_of(url, planned)
        print(json.dumps([_cell_json(c, s, fresh[s.key()]) for c, s in planned], default=str))
    if failed:
        err(f"{failed} cell(s) failed; run the sweep again to retry them (stored suites are kept)")
        raise typer.Exit(1)


@sweep_app.command("status")
def status(grid_file: GridArg, as_json: JsonOpt = False) -> None:
    """Per cell of GRID: done, queued, running, failed or pending (nothing stored yet)."""
    from skipbench.settings import get_settings
    from workers.plugins import load_plugins

    url = get_settings().db_url
    load_plugins()
    grid, planned = plan(grid_file, check_models=False)
    states = key_states_of(url, planned)
    rows = [_cell_json(cell, spec, states[spec.key()]) for cell, spec in planned]
    _print_table(f"sweep {grid.name or grid_file.name}", rows, None)
    console.print(_counts(rows), highlight=False)
    if as_json:
        print(json.dumps(rows, default=str))
