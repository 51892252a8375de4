"""Running a sweep's cells: here one after another (progress, ETA, a bundle rewritten after each
success) or queued for workers; and what each cell's stored state means for it.

``cli.sweep_cmd`` plans and validates the grid and calls these; nothing here parses a grid.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.common import err, err_console
from cli.progress import LineProgress

if TYPE_CHECKING:
    from cli.sweep_grid import Cell
    from db.run_index import KeyState


def key_states_of(url: str, planned: list[tuple[Cell, Any]]) -> dict[str, KeyState]:
    from db.engine import upgrade
    from db.run_index import key_states

    upgrade(url)
    return key_states(url, [spec.key() for _, spec in planned])


def where(state: KeyState) -> str:
    done = state.succeeded
    if done is not None:
        return f"run {done.id}"
    if state.job is not None:
        return f"job {state.job.id}"
    return f"run {state.runs[-1].id}" if state.runs else ""


def cell_action(state: KeyState, submit: bool) -> str:
    if state.state == "done":
        return f"skip: stored ({where(state)})"
    if state.job is not None and state.job.status in ("queued", "running"):
        return f"skip: {state.job.status} (job {state.job.id})"
    if submit:
        return f"re-queue job {state.job.id}" if state.job is not None else "queue"
    resume = state.resumable()
    return f"resume run {resume.id}" if resume is not None else "run"


def cell_line(cell: Cell, total: int, what: str, detail: str = "") -> None:
    width = len(str(total))
    print(
        f"[{cell.index:>{width}}/{total}] {what:<8} {cell.label}"
        + (f"  {detail}" if detail else ""),
        flush=True,
    )


def eta(durations: list[float], remaining: int) -> str:
    if not durations:
        return "ETA ?"
    seconds = int(sum(durations) / len(durations) * remaining)
    return "ETA " + (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m{seconds % 60:02d}s"
    )


@contextmanager
def cell_progress(cell: Cell, total: int, resume_id: int | None) -> Iterator[Any]:
    """``progress(what, fraction)`` for one cell: a spinner on a terminal; in a log (stderr not
    a terminal) a line when the cell starts and ``LineProgress`` lines (each step's start,
    quarters with elapsed time and ETA, end), prefixed with the cell, so a long cell in a
    ``nohup`` or batch-job log shows where it is."""
    prefix = f"[{cell.index}/{total}]"
    if err_console.is_terminal:
        with err_console.status(f"{prefix} {cell.label}") as spinner:
            yield lambda what, fraction: spinner.update(
                f"{prefix} {cell.label}: {what} {fraction:.0%}"
            )
        return

    def write(text: str) -> None:
        print(f"{prefix} {text}", file=sys.stderr, flush=True)

    write(f"started {cell.label}" + (f" (resuming run {resume_id})" if resume_id else ""))
    lines = LineProgress(write)
    try:
        yield lines.update
    finally:
        lines.close()


def export_grid(url: str, name: str, planned: list[tuple[Cell, Any]], path: Path) -> None:
    """Write the grid's succeeded runs (stored before or run now) to the bundle at ``path``."""
    from db import bundle_format
    from db.bundles import bundle_header, export_runs

    done = [s.succeeded for s in key_states_of(url, planned).values() if s.succeeded is not None]
    ids = sorted(run.id for run in done)
    if not ids:
        return
    runs = export_runs(url, run_ids=ids)
    filters = {"grid": name, "runs": ids, "with_samples": False}
    digest = bundle_format.write(path, bundle_header(filters), runs)
    print(f"exported {len(runs)} run(s) to {path} (sha256 {digest[:16]}…)", flush=True)


def run_all(
    planned: list[tuple[Cell, Any]],
    states: dict[str, KeyState],
    on_done: Callable[[], None] | None = None,
) -> int:
    """Run the cells here one after another, calling ``on_done`` after each one that succeeds
    (or once, when no cell needed to run); returns how many failed."""
    from cli.common import get_store
    from harness.runner import execute

    store = get_store()
    total = planned[-1][0].index if planned else 0
    todo = [
        (c, s) for c, s in planned if not cell_action(states[s.key()], False).startswith("skip")
    ]
    to_run = {c.index for c, _ in todo}
    durations: list[float] = []
    failed = n = 0
    for cell, spec in planned:
        if cell.index not in to_run:
            cell_line(
                cell, total, "skip", cell_action(states[spec.key()], False).removeprefix("skip: ")
            )
            continue
        n += 1
        resume = states[spec.key()].resumable()
        t0 = time.monotonic()
        with cell_progress(cell, total, resume.id if resume else None) as progress:
            try:
                record = execute(spec, store, progress, resume_run_id=resume.id if resume else None)
            except Exception as exc:  # a failed cell never stops the sweep
                durations.append(time.monotonic() - t0)
                failed += 1
                first = (str(exc).splitlines() or [""])[0]
                cell_line(
                    cell,
                    total,
                    "FAILED",
                    f"{type(exc).__name__}: {first}  · {eta(durations, len(todo) - n)}",
                )
                continue
        durations.append(time.monotonic() - t0)
        resumed = f" (resumed run {resume.id})" if resume else ""
        cell_line(
            cell,
            total,
            "ok",
            f"{durations[-1]:.1f}s · run {record['run_id']}{resumed} · {eta(durations, len(todo) - n)}",
        )
        if on_done is not None:
            on_done()
    if on_done is not None and not todo:
        on_done()  # nothing ran: the bundle still holds what is stored
    done = len(planned) - failed
    print(
        f"sweep: {len(planned)} cells, {done} done ({len(todo) - failed} now), {failed} failed",
        flush=True,
    )
    return failed


def submit_all(
    planned: list[tuple[Cell, Any]], states: dict[str, KeyState], queue: str | None
) -> int:
    """Queue every cell not stored (re-queue failed jobs); returns how many could not be queued."""
    from skipbench.settings import get_settings
    from workers import service
    from workers.broker import BrokerUnavailable, ping

    settings = get_settings()
    try:
        ping(settings.broker_url)
    except BrokerUnavailable as exc:
        err(
            f"error: {exc}; start the broker (see docs/deploy.md) or run the sweep here without --submit"
        )
        sys.exit(1)
    total = planned[-1][0].index if planned else 0
    failed = 0
    for cell, spec in planned:
        state = states[spec.key()]
        action = cell_action(state, True)
        if action.startswith("skip"):
            cell_line(cell, total, "skip", action.removeprefix("skip: "))
            continue
        try:
            if state.job is not None and state.job.status in ("failed", "cancelled"):
                job = service.retry(state.job.id, settings)
                cell_line(cell, total, "requeued", f"job {job.id} (resumes its stored suites)")
                continue
            result = service.submit(spec, queue=queue, settings=settings)
        except Exception as exc:  # one cell's trouble never stops the others
            failed += 1
            cell_line(
                cell, total, "FAILED", f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
            )
            continue
        job = result.job
        word = "queued" if result.created else job.status
        cell_line(cell, total, word, f"job {job.id}")
    print(f"sweep: {len(planned)} cells; `skipbench sweep status GRID` follows them", flush=True)
    return failed
