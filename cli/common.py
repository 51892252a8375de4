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
    """Yields ``progress(what, fraction)``; one rich bar per distinct ``what`` (on stderr)."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskID,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    if not enabled:
        yield lambda what, fraction: None
        return
    bars: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as progress:

        def update(what: str, fraction: float) -> None:
            if what not in bars:
                bars[what] = progress.add_task(what, total=1.0)
            progress.update(bars[what], completed=max(0.0, min(1.0, fraction)))

        yield update
