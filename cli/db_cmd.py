"""``skipbench db upgrade``: apply Alembic migrations to the configured database."""

from __future__ import annotations

import typer

from cli.common import console

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade() -> None:
    """Migrate the database at SKIPBENCH_DATABASE_URL (default: SQLite in SkipBench's home) to head."""
    from db.engine import upgrade as do_upgrade
    from skipbench.settings import get_settings

    url = get_settings().db_url
    do_upgrade(url)
    console.print(f"database at {_redact(url)} is at the latest schema")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
