"""Timing that measures what the device does, not when Python returned.

On CUDA a region is bracketed by CUDA events and the elapsed time is read after the end event
completes (device work is asynchronous, so a host clock alone would time the launches). Without
a GPU the region is timed with the monotonic ``time.perf_counter_ns``. ``measure`` runs warm-up
calls first (kernel selection, allocator growth, lazy initialisation stay out of the numbers),
then timed repeats, and summarises them as median / p90 / mean / min.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q={q} is outside [0, 100]")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class TimingStats:
    """Summary of timed repeats, all in milliseconds."""

    samples_ms: tuple[float, ...] = field(repr=False)

    @property
    def repeats(self) -> int:
        return len(self.samples_ms)

    @property
    def median_ms(self) -> float:
        return percentile(self.samples_ms, 50.0)

    @property
    def p90_ms(self) -> float:
        return percentile(self.samples_ms, 90.0)

    @property
    def mean_ms(self) -> float:
        return sum(self.samples_ms) / len(self.samples_ms)

    @property
    def min_ms(self) -> float:
        return min(self.samples_ms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "median_ms": self.median_ms,
            "p90_ms": self.p90_ms,
            "mean_ms": self.mean_ms,
            "min_ms": self.min_ms,
            "repeats": self.repeats,
            "samples_ms": list(self.samples_ms),
        }


def is_cuda(device: Any) -> bool:
    return str(device).startswith("cuda")


class Timer:
    """Context manager; ``elapsed_ms`` is valid after the block exits.

    CUDA: events recorded on the current stream, synchronised on exit. CPU: monotonic clock.
    """

    def __init__(self, device: Any = "cpu") -> None:
        self.cuda = is_cuda(device)
        self.elapsed_ms: float = float("nan")
        self._start: Any = None
        self._end: Any = None
        self._t0 = 0

    def __enter__(self) -> Timer:
        if self.cuda:
            import torch

            self._start = torch.cuda.Event(enable_timing=True)
            self._end = torch.cuda.Event(enable_timing=True)
            self._start.record()
        else:
            self._t0 = time.perf_counter_ns()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            self._end.record()
            self._end.synchronize()
            self.elapsed_ms = float(self._start.elapsed_time(self._end))
        else:
            self.elapsed_ms = (time.perf_counter_ns() - self._t0) / 1e6


def synchronize(device: Any) -> None:
    if is_cuda(device):
        import torch

        torch.cuda.synchronize(device)


def measure(
    fn: Callable[[], Any], device: Any = "cpu", warmup: int = 2, repeats: int = 10
) -> TimingStats:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times, each in its own ``Timer``."""
    if warmup < 0 or repeats < 1:
        raise ValueError(f"warmup={warmup} must be >= 0 and repeats={repeats} >= 1")
    for _ in range(warmup):
        fn()
    synchronize(device)
    samples = []
    for _ in range(repeats):
        with Timer(device) as t:
            fn()
        samples.append(t.elapsed_ms)
    return TimingStats(tuple(samples))


def peak_memory_reset(device: Any) -> None:
    if is_cuda(device):
        import torch

        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_bytes(device: Any) -> int | None:
    """Peak bytes allocated by PyTorch on ``device`` since the last reset; None on CPU."""
    if not is_cuda(device):
        return None
    import torch

    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device))
