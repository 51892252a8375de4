"""Progress of a run's steps (calibration, a method's search, each suite) on stderr.

Steps report ``progress(what, fraction)``. On a terminal each step gets a rich bar with its
elapsed time and an ETA; elsewhere (logs, CI, ``> file``) bars would be redrawn as noise, so
each step writes plain lines instead: when it starts, at each quarter, and when it ends, with
elapsed time and ETA. The ETA is linear: ``elapsed * (1 - f) / f``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console

MARKS = (0.25, 0.5, 0.75)  # fractions at which a log line is written


def duration(seconds: float) -> str:
    """``45s``, ``3m07s``, ``1h02m``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def eta(elapsed: float, fraction: float) -> float | None:
    """Seconds left at ``fraction`` done after ``elapsed`` seconds; None before any progress."""
    if fraction <= 0:
        return None
    return elapsed * (1.0 - min(fraction, 1.0)) / fraction


@dataclass
class _Step:
    started: float
    fraction: float = 0.0
    marks_done: int = 0
    finished: bool = False


@dataclass
class LineProgress:
    """Plain-line progress for a non-terminal (``write`` gets one line per call)."""

    write: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic
    steps: dict[str, _Step] = field(default_factory=dict)

    def update(self, what: str, fraction: float) -> None:
        fraction = max(0.0, min(1.0, float(fraction)))
        now = self.clock()
        step = self.steps.get(what)
        if step is None:
            step = self.steps[what] = _Step(started=now)
            self.write(f"{what}: started")
        if step.finished:
            return
        step.fraction = fraction
        elapsed = now - step.started
        if fraction >= 1.0:
            step.finished = True
            self.write(f"{what}: done in {duration(elapsed)}")
            return
        crossed = sum(fraction >= m for m in MARKS)
        if crossed > step.marks_done:
            step.marks_done = crossed
            left = eta(elapsed, fraction)
            self.write(
                f"{what}: {fraction:.0%} ({duration(elapsed)} elapsed, "
                f"ETA {duration(left) if left is not None else '?'})"
            )

    def close(self) -> None:
        """A step that never reached 100% (a failure, an early stop) says where it stopped."""
        now = self.clock()
        for what, step in self.steps.items():
            if not step.finished:
                self.write(
                    f"{what}: stopped at {step.fraction:.0%} after {duration(now - step.started)}"
                )


@contextmanager
def progress_bars(console: Console, enabled: bool = True) -> Iterator[Callable[[str, float], None]]:
    """Yields ``progress(what, fraction)``: rich bars with ETA on a terminal, else log lines."""
    if not enabled:
        yield lambda what, fraction: None
        return
    if not console.is_terminal:
        lines = LineProgress(
            lambda text: console.print(text, markup=False, highlight=False, soft_wrap=True)
        )
        try:
            yield lines.update
        finally:
            lines.close()
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskID,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bars: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:

        def update(what: str, fraction: float) -> None:
            if what not in bars:
                bars[what] = progress.add_task(what, total=1.0)
            progress.update(bars[what], completed=max(0.0, min(1.0, float(fraction))))

        yield update
