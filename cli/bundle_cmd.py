"""``skipbench export`` and ``skipbench import``: result bundles between stores (db/bundles.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.common import console


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("import")(import_)


def export(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="bundle file: .json, or .jsonl for JSON Lines")
    ],
    model: Annotated[str | None, typer.Option("--model", help="only this model id")] = None,
    method: Annotated[str | None, typer.Option("--method", help="only this method")] = None,
    run_id: Annotated[list[int] | None, typer.Option("--run", help="only these run ids")] = None,
    with_samples: Annotated[
        bool, typer.Option("--with-samples", help="include per-sample logs (can be large)")
    ] = False,
) -> None:
    """Write succeeded runs (provenance, results, artifacts) to one bundle with its sha256."""
    from db import bundle_format
    from db.bundles import bundle_header, export_runs
    from skipbench.errors import InvalidInput
    from skipbench.settings import get_settings

    bundle_format.check_name(output)
    runs = export_runs(get_settings().db_url, model, method, run_id, with_samples)
    if not runs:
        raise InvalidInput("no succeeded runs match; see `skipbench results` for what is stored")
    filters = {"model": model, "method": method, "runs": run_id, "with_samples": with_samples}
    digest = bundle_format.write(output, bundle_header(filters), runs)
    console.print(f"wrote {len(runs)} run(s) to {output} (sha256 {digest[:16]}…)", highlight=False)


def import_(
    files: Annotated[
        list[Path],
        typer.Argument(help="bundle written by `skipbench export` (or --reported YAMLs)"),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
    reported: Annotated[
        bool, typer.Option("--reported", help="the files are published numbers (results/reported)")
    ] = False,
) -> None:
    """Verify a bundle (hash, schema) and store its runs in one transaction; again = no change."""
    from db import bundle_format
    from db.bundles import import_bundle
    from skipbench.errors import InvalidInput
    from skipbench.settings import get_settings

    if reported:
        from cli.reported_cmd import import_reported_files

        import_reported_files(files, as_json)
        return
    if len(files) != 1:
        raise InvalidInput(f"{len(files)} files given; import takes one bundle (or --reported)")
    bundle_file = files[0]
    bundle = bundle_format.read(bundle_file)
    try:
        report = import_bundle(get_settings().db_url, bundle, bundle_file)
    except InvalidInput:
        raise
    except Exception as exc:  # the transaction rolled back: nothing of the bundle is stored
        first = (str(exc).splitlines() or [""])[0]
        raise InvalidInput(
            f"{bundle_file.name}: import failed, nothing stored: {type(exc).__name__}: {first}"
        ) from None
    console.print(
        f"{bundle_file.name}: {len(report.added)} run(s) imported"
        + (f" (ids {', '.join(map(str, report.added))})" if report.added else "")
        + f", {len(report.already)} already stored"
        + (f", {report.artifacts_added} artifact(s) added" if report.artifacts_added else ""),
        highlight=False,
    )
    if as_json:
        print(
            json.dumps(
                {
                    "added": report.added,
                    "already": report.already,
                    "artifacts_added": report.artifacts_added,
                    "sha256": bundle.sha256,
                }
            )
        )
