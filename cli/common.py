"""Shared CLI helpers: consoles, progress bars, the store, id options, SIGTERM."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from skipbench.errors import InvalidInput

if TYPE_CHECKING:
    from db.store import Store

console = Console()
err_console = Console(stderr=True)


def err(message: str) -> None:
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)


# run and job ids are the store's INTEGER keys (PostgreSQL: 32 bits)
ID_MAX = 2**31 - 1
ID_RANGE = f"a whole number from 1 to {ID_MAX}"
JobIdArg = Annotated[int, typer.Argument(help="job id", min=1, max=ID_MAX)]


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like ``KeyboardInterrupt`` is for SIGINT: a run that
    is stopped ends ``failed`` ("Terminated: stopped by SIGTERM"), not ``running`` forever."""


def _on_sigterm(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM during cleanup kills
    raise Terminated("stopped by SIGTERM")


def handle_sigterm() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)


def masked(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable)"


def store_error(exc: BaseException, url: str) -> InvalidInput | None:
    """A one-line ``InvalidInput`` for a database URL that is malformed, names a driver that is
    not installed, or a server that does not answer; None for other errors."""
    from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError

    allowed = "e.g. sqlite:////path/to/skipbench.db or postgresql+psycopg://user:pass@host:5432/db"
    if isinstance(exc, ArgumentError):
        return InvalidInput(f"SKIPBENCH_DATABASE_URL={url!r} is not a database URL; {allowed}")
    if isinstance(exc, NoSuchModuleError):
        return InvalidInput(
            f"SKIPBENCH_DATABASE_URL={masked(url)!r}: no database driver for it here "
            f"({str(exc).splitlines()[0]}); {allowed}"
        )
    if isinstance(exc, OperationalError | InterfaceError):
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return InvalidInput(
            f"database {masked(url)} (SKIPBENCH_DATABASE_URL) is not reachable: "
            f"{detail[0] if detail else type(exc).__name__}"
        )
    return None


def ready_store_url() -> str:
    """The store's URL, migrated and answering; else a one-line ``InvalidInput``."""
    from db.engine import upgrade
    from skipbench.settings import get_settings

    url = get_settings().db_url
    try:
        upgrade(url)
    except OSError as exc:  # e.g. an SQLite folder that cannot be created
        raise InvalidInput(f"database {masked(url)} (SKIPBENCH_DATABASE_URL): {exc}") from None
    except Exception as exc:
        problem = store_error(exc, url)
        if problem is None:
            raise
        raise problem from None
    return url


def get_store() -> Store:
    from db.store import Store

    return Store(ready_store_url())


@contextmanager
def progress_bars(enabled: bool = True) -> Iterator:
    """Yields ``progress(what, fraction)`` on stderr: bars with ETA on a terminal, one line
    per step otherwise (``cli.progress``)."""
    from cli.progress import progress_bars as on_console

    with on_console(err_console, enabled) as update:
        yield update
