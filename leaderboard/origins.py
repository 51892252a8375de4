"""Where a run came from: measured in this store, or imported from a bundle (``provenance.origin``,
written by ``skipbench import``). The leaderboard's Origin filter reads this."""

from __future__ import annotations

from typing import Any

import pandas as pd

HERE = "measured in this store"


def origin_label(provenance: Any) -> str:
    origin = provenance.get("origin") if isinstance(provenance, dict) else None
    if not isinstance(origin, dict):
        return HERE
    host = origin.get("host") or "unknown host"
    return f"imported: {origin.get('file') or 'bundle'} (from {host})"


def labels(runs: pd.DataFrame) -> list[str]:
    """The origins present, this store's own runs first."""
    found = {origin_label(p) for p in runs["provenance"]}
    return sorted(found, key=lambda label: (label != HERE, label))


def keep(
    runs: pd.DataFrame, results: pd.DataFrame, picked: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Only runs (and their results) whose origin is among ``picked``; all when none is picked."""
    if not picked:
        return runs, results
    mask = runs["provenance"].map(origin_label).isin(picked)
    kept = runs[mask]
    return kept, results[results["run_id"].isin(kept["id"])]
