"""``skipbench run``, ``results`` and ``methods``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.common import console, get_store, progress_bars

ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="hub id, local folder, .gguf file, or catalog name")
]
MethodOpt = Annotated[
    str, typer.Option("--method", help="registered method name (see `skipbench methods`)")
]
SparsityOpt = Annotated[
    float | None, typer.Option("--sparsity", help="fraction of computation to skip, in [0, 1)")
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="method parameter key=value (repeatable)")
]
SuiteOpt = Annotated[
    list[str] | None,
    typer.Option("--suite", help="perplexity, zeroshot, longbench, throughput (repeatable)"),
]
TaskOpt = Annotated[
    list[str] | None, typer.Option("--task", help="task of a chosen suite (repeatable)")
]
SuiteSetOpt = Annotated[
    list[str] | None,
    typer.Option("--suite-set", help="suite parameter SUITE.key=value (repeatable)"),
]
LimitOpt = Annotated[
    int | None, typer.Option("--limit", help="first N windows / examples per task")
]
SeqLenOpt = Annotated[
    int | None, typer.Option("--seq-len", help="perplexity window length (default 2048)")
]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", help="evaluation batch size")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="auto, float32, bfloat16, float16")]
RevisionOpt = Annotated[
    str | None, typer.Option("--revision", help="hub revision (branch, tag or commit)")
]
TrustOpt = Annotated[
    bool, typer.Option("--trust-remote-code", help="allow custom model code from the hub")
]
SeedOpt = Annotated[
    int, typer.Option("--seed", help="seed for calibration sampling and everything random")
]
CalibOpt = Annotated[str, typer.Option("--calib-source", help="calibration data: auto, local, hub")]
LogSamplesOpt = Annotated[
    bool,
    typer.Option(
        "--log-samples", help="store per-sample records with the run (zeroshot, longbench)"
    ),
]


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("results")(results)
    app.command("methods")(methods)


def run(
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="hub id, local folder, .gguf file, or catalog name"),
    ] = None,
    method: MethodOpt = "dense",
    sparsity: SparsityOpt = None,
    set_: SetOpt = None,
    suite: SuiteOpt = None,
    task: TaskOpt = None,
    suite_set: SuiteSetOpt = None,
    limit: LimitOpt = None,
    seq_len: SeqLenOpt = None,
    batch_size: BatchOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    revision: RevisionOpt = None,
    trust_remote_code: TrustOpt = False,
    seed: SeedOpt = 0,
    calib_source: CalibOpt = "auto",
    log_samples: LogSamplesOpt = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the run as one JSON document (last line)")
    ] = False,
    resume: Annotated[
        int | None,
        typer.Option("--resume", help="continue a failed run at its first suite not yet stored"),
    ] = None,
) -> None:
    """Evaluate MODEL with METHOD in this process, store the run, print its results."""
    from harness.runner import RunSpec, execute
    from cli.spec_options import build_spec
    from skipbench.errors import InvalidInput

    store = get_store()
    if resume is not None:
        previous = store.get_run(resume)
        if previous is None or "spec" not in (previous.provenance or {}):
            raise InvalidInput(f"--resume {resume}: no stored run with that id")
        if previous.status == "succeeded":
            raise InvalidInput(f"--resume {resume}: run already succeeded; nothing to resume")
        with progress_bars() as progress:
            record = execute(
                RunSpec.from_dict(previous.provenance["spec"]),
                store,
                progress,
                resume_run_id=resume,
            )
        _show(record, as_json)
        return
    if model is None:
        raise InvalidInput(
            "--model is required (a hub id, local folder, .gguf file or catalog name)"
        )
    spec = build_spec(
        model=model,
        method=method,
        sparsity=sparsity,
        sets=set_,
        suites=suite,
        tasks=task,
        suite_sets=suite_set,
        limit=limit,
        seq_len=seq_len,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        revision=revision,
        trust_remote_code=trust_remote_code,
        seed=seed,
        calib_source=calib_source,
        log_samples=log_samples,
    )
    with progress_bars() as progress:
        record = execute(spec, store, progress)
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
    run_id: Annotated[list[int] | None, typer.Option("--run", help="only these run ids")] = None,
    all_runs: Annotated[
        bool, typer.Option("--all", help="include failed and running runs")
    ] = False,
    latest: Annotated[
        bool,
        typer.Option("--latest", help="only the newest run per model, method config and suites"),
    ] = False,
) -> None:
    """Show stored runs: one row per run, one column per task and metric."""
    from db.store import run_to_dict
    from cli.tables import print_runs, runs_to_csv
    from skipbench.errors import InvalidInput

    if fmt not in ("table", "csv", "json"):
        raise InvalidInput(f"--format {fmt!r}; allowed: table, csv, json")
    store = get_store()
    runs = store.runs(
        model=model, method=method, status=None if all_runs else "succeeded", ids=run_id
    )
    if latest:
        newest: dict[str, object] = {}
        for run in runs:  # ordered by id, so later runs overwrite earlier ones
            key = json.dumps(
                [run.model_id, run.method_name, run.method_config, run.suites],
                sort_keys=True,
                default=str,
            )
            newest[key] = run
        runs = sorted(newest.values(), key=lambda r: r.id)  # type: ignore[attr-defined]
    by_run: dict[int, list] = {}
    for r in store.results([run.id for run in runs]):
        by_run.setdefault(r.run_id, []).append(r)
    records = [run_to_dict(run, by_run.get(run.id, [])) for run in runs]
    if fmt == "json":
        print(json.dumps(records, default=str))
    elif fmt == "csv":
        print(runs_to_csv(records), end="")
    elif not records:
        console.print(
            "No runs stored yet. Try: skipbench run --model smollm2-135m-instruct --limit 2"
        )
    else:
        print_runs(records, title="SkipBench results")


def methods() -> None:
    """List registered methods, their descriptions and parameters (with defaults)."""
    from rich.table import Table

    from methods.registry import available_methods

    table = Table(title="Methods")
    table.add_column("name", style="bold")
    table.add_column("description")
    table.add_column("parameters (default)")
    for name, cls in available_methods().items():
        params = ", ".join(f"{n}: {t} = {d!r}" for n, t, d in cls.Config.describe()) or "-"
        table.add_row(name, cls.description, params)
    console.print(table)
