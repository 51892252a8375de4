"""Shared CLI helpers: consoles, progress bars, the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from db.store import Store

console = Console()
err_console = Console(stderr=True)


def err(message: str) -> None:
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)


def get_store() -> Store:
    from db.store import Store
    from skipbench.settings import get_settings

    return Store(get_settings().db_url)


@contextmanager
def progress_bars(enabled: bool = True) -> Iterator:
    """Yields ``progress(what, fraction)`` on stderr: bars with ETA on a terminal, one line
    per step otherwise (``cli.progress``)."""
    from cli.progress import progress_bars as on_console

    with on_console(err_console, enabled) as update:
        yield update
