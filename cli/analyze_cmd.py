"""``skipbench analyze sink``: diagnostics stored with the runs, printed as tables."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cli.common import console, get_store, progress_bars

analyze_app = typer.Typer(
    help="Diagnostics of a model (stored as runs of the suite 'analysis').", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(analyze_app, name="analyze")


@analyze_app.command("sink")
def sink(
    model: Annotated[
        str, typer.Option("--model", "-m", help="hub id, local folder, .gguf file, or catalog name")
    ],
    task: Annotated[str, typer.Option("--task", help="wikitext2 or c4")] = "wikitext2",
    limit: Annotated[int | None, typer.Option("--limit", help="first N windows")] = None,
    seq_len: Annotated[int, typer.Option("--seq-len", help="window length in tokens")] = 2048,
    batch_size: Annotated[int, typer.Option("--batch-size", help="windows per forward")] = 1,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N")] = "auto",
    dtype: Annotated[
        str, typer.Option("--dtype", help="auto, float32, bfloat16, float16")
    ] = "auto",
    revision: Annotated[str | None, typer.Option("--revision", help="hub revision")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the stored artifact as JSON (last line)")
    ] = False,
) -> None:
    """Per layer: how aligned tokens are with the sink (first token), and how much the sink moves."""
    from harness.analysis.runs import analyze_sink
    from harness.models import ModelSpec

    spec = ModelSpec(source=model, revision=revision, dtype=dtype, device=device)  # type: ignore[arg-type]
    store = get_store()
    with progress_bars() as progress:
        out = analyze_sink(spec, task, limit, seq_len, batch_size, store=store, progress=progress)
    print_sink_table(out["sink"], out["run_id"])
    if as_json:
        print(json.dumps(out["sink"]))


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_sink_table(payload: dict[str, Any], run_id: int | None) -> None:
    from rich.table import Table

    title = (
        f"sink analysis of {payload['model']} on {payload['task']}: {payload['windows']} windows x "
        f"{payload['tokens_per_window']} tokens"
        + (f" (run {run_id})" if run_id is not None else "")
    )
    table = Table(title=title)
    for name in (
        "layer",
        "mean cos(tok, sink)",
        "mean |cos|",
        "sink change",
        "sink change (raw)",
        "sink rms / tok rms",
    ):
        table.add_column(name, justify="right")
    for i in payload["layers"]:
        ratio = (
            payload["sink_rms"][i] / payload["token_rms"][i] if payload["token_rms"][i] else None
        )
        table.add_row(
            str(i),
            _fmt(payload["mean_cos"][i]),
            _fmt(payload["mean_abs_cos"][i]),
            _fmt(payload["sink_change"][i]),
            _fmt(payload["sink_change_raw"][i]),
            _fmt(ratio, 2),
        )
    console.print(table)
    summary = payload.get("summary") or {}
    if summary:
        console.print(", ".join(f"{k} = {v:.4f}" for k, v in summary.items()))
