"""``skipbench run``, ``results`` and ``methods``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cli.common import ID_MAX, console, get_store, progress_bars
from cli.spec_options import SpecCommand, SpecOptions, spec_options


def register(app: typer.Typer) -> None:
    app.command("run", cls=SpecCommand)(run)
    app.command("results")(results)
    app.command("methods")(methods)


@spec_options
def run(
    options: SpecOptions,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the run as one JSON document (last line)")
    ] = False,
    resume: Annotated[
        int | None,
        typer.Option(
            "--resume",
            help="continue a failed run at its first suite not yet stored (refused if its "
            "model, method config or data changed)",
            min=1,
            max=ID_MAX,
        ),
    ] = None,
) -> None:
    """Evaluate MODEL with METHOD in this process, store the run, print its results."""
    from harness.runner import RunSpec, execute
    from skipbench.errors import InvalidInput
    from skipbench.registry import load_plugins

    load_plugins()
    store = get_store()
    if resume is not None:
        previous = store.get_run(resume)
        if previous is None or "spec" not in (previous.provenance or {}):
            raise InvalidInput(f"--resume {resume}: no stored run with that id")
        if previous.status == "succeeded":
            raise InvalidInput(f"--resume {resume}: run already succeeded; nothing to resume")
        # the same model, method config and data as recorded, or a one-line refusal (execute)
        spec = RunSpec.from_dict(previous.provenance["spec"])
    else:
        spec = options.to_spec()
    with progress_bars() as progress:
        record = execute(spec, store, progress, resume_run_id=resume)
    _show(record, as_json)


def _show(record: dict, as_json: bool) -> None:
    from cli.tables import print_runs

    print_runs([record], title=f"run {record['run_id']}")
    if as_json:
        print(json.dumps(record, default=str))


def results(
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
    model: Annotated[str | None, typer.Option("--model", help="only this model id")] = None,
    method: Annotated[str | None, typer.Option("--method", help="only this method")] = None,
    run_id: Annotated[
        list[int] | None, typer.Option("--run", help="only these run ids", min=1, max=ID_MAX)
    ] = None,
    all_runs: Annotated[
        bool, typer.Option("--all", help="include failed and running runs")
    ] = False,
    latest: Annotated[
        bool,
        typer.Option(
            "--latest",
            help="one row per model, method config and evaluation config (as the leaderboard): "
            "suites merged across successful runs, the newest value wins",
        ),
    ] = False,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide",
            help="with --format csv: one line per run with layers, device, units and the "
            "evaluation settings (limit, seq_len, calibration, suite config), a column per metric",
        ),
    ] = False,
) -> None:
    """Show stored runs: one row per run, one column per headline metric that fits the
    terminal (the rest: --format csv/json)."""
    from cli.tables import print_runs, runs_to_csv, runs_to_wide_csv
    from db.store import run_to_dict
    from skipbench.errors import InvalidInput

    if fmt not in ("table", "csv", "json"):
        raise InvalidInput(f"--format {fmt!r}; allowed: table, csv, json")
    if wide and fmt != "csv":
        raise InvalidInput(f"--wide is a CSV layout; use it with --format csv (not {fmt!r})")
    store = get_store()
    runs = store.runs(
        model=model, method=method, status=None if all_runs else "succeeded", ids=run_id
    )
    by_run: dict[int, list] = {}
    for r in store.results([run.id for run in runs]):
        by_run.setdefault(r.run_id, []).append(r)
    records = [run_to_dict(run, by_run.get(run.id, [])) for run in runs]
    if latest:  # the leaderboard's rows (db.evaluation): suites merged, newest value wins
        from db.evaluation import merge_runs

        found = [r for rs in by_run.values() for r in rs]
        ids = {run.id: run for run in runs}
        records = [
            {
                **row_record(row, ids, found),
                "merged_runs": row.run_ids,
                # each merged suite's config, from the run that measured it
                "suites": {s: (ids[i[0]].suites or {}).get(s) for s, i in row.sources.items()},
            }
            for row in merge_runs(runs, {i: {r.suite for r in rs} for i, rs in by_run.items()})
        ]
    if fmt == "json":
        print(json.dumps(records, default=str))
    elif fmt == "csv":
        print((runs_to_wide_csv if wide else runs_to_csv)(records), end="")
    elif not records:
        console.print(
            "No runs stored yet. Try: skipbench run --model smollm2-135m-instruct --limit 2"
        )
    else:
        print_runs(records, title="SkipBench results")


def row_record(row: Any, runs: dict[int, Any], results: list[Any]) -> dict[str, Any]:
    """One leaderboard row as a run record: its picked results, and for a seed-pooled method
    (``random``) one result per metric, the mean over seeds, with ``spread`` (sample sd) and
    ``seed_values``, as the leaderboard shows it."""
    from types import SimpleNamespace

    from db.evaluation import pick_results, pool_seeds
    from db.store import run_to_dict
    from skipbench.records import RESULT_KEYS

    picked = pick_results(row, results)
    if not row.seeds:
        return run_to_dict(runs[row.anchor], picked)
    as_dicts = [{"run_id": r.run_id, **{k: getattr(r, k) for k in RESULT_KEYS}} for r in picked]
    pooled = pool_seeds(row, as_dicts)
    record = run_to_dict(runs[row.anchor], [SimpleNamespace(**p) for p in pooled])
    for out, p in zip(record["results"], pooled, strict=True):
        out["spread"] = p["spread"]
        out["seed_values"] = p["seed_values"]
    record["seeds"] = sorted({s for s in row.seeds.values() if s is not None})
    return record


def methods() -> None:
    """List registered methods, their descriptions and parameters (with defaults)."""
    from rich.table import Table

    from methods.registry import available_methods
    from skipbench.registry import load_plugins

    load_plugins()
    table = Table(title="Methods")
    table.add_column("name", style="bold")
    table.add_column("description")
    table.add_column("parameters (default)")
    for name, cls in available_methods().items():
        params = ", ".join(f"{n}: {t} = {d!r}" for n, t, d in cls.Config.describe()) or "-"
        table.add_row(name, cls.description, params)
    console.print(table)
