"""The Pareto frontier of (quality, speed) points, each axis with its own direction."""

from __future__ import annotations

from collections.abc import Sequence


def dominates(a: tuple[float, float], b: tuple[float, float], better: tuple[bool, bool]) -> bool:
    """``a`` is at least as good as ``b`` on both axes and strictly better on one.

    ``better[i]`` is True when higher is better on axis ``i``.
    """
    at_least = all((x >= y) if hib else (x <= y) for x, y, hib in zip(a, b, better))
    strictly = any((x > y) if hib else (x < y) for x, y, hib in zip(a, b, better))
    return at_least and strictly


def frontier(points: Sequence[tuple[float, float]], better: tuple[bool, bool]) -> list[int]:
    """Indices of the points no other point dominates, ordered along the first axis."""
    keep = [
        i
        for i, p in enumerate(points)
        if not any(dominates(q, p, better) for j, q in enumerate(points) if j != i)
    ]
    return sorted(keep, key=lambda i: (points[i][0], points[i][1]))
