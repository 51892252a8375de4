"""The rounds a greedy calibration search has already computed, so that it need not compute them twice.

SLEB's, OrthoRank's and BlockPruner's searches are greedy: round r picks the candidate with the
lowest calibration loss, given the picks of rounds 0..r-1. So a search for n picks is a search
for k < n picks followed by n - k more rounds, and the same search (same weights, dtype, device,
calibration tokens and trial) always makes the same picks. A ``RoundLog`` holds the rounds done so
far; the searches replay its rounds instead of recomputing them and append each new one. The
plain ``RoundLog`` keeps them in memory (a search run twice in one process); the harness passes
one backed by a file under SkipBench's home (``harness.search_logs``), so that a search stopped by
a time limit resumes at its next round and the 20% and 30% cells of a grid share their first
rounds.

A logged round is reused only while the log agrees with the search: each round's pick must be a
candidate of that round; the first that is not ends the replay, and the search computes from there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Round = tuple[Any, float]  # (the pick: a layer index or a sublayer name, calibration loss after it)


class RoundLog:
    """Rounds of one search, in order; ``key`` names where they are kept (None: in memory)."""

    key: str | None = None

    def __init__(self) -> None:
        self._rounds: list[Round] = []

    def load(self) -> list[Round]:
        """The rounds recorded so far (read again each call: another process may have added some)."""
        return list(self._rounds)

    def save(self, rounds: Sequence[Round]) -> None:
        """Record ``rounds`` (the whole search so far), keeping a longer log that starts with them."""
        self._rounds = longest_agreeing(self._rounds, rounds)


def picks(rounds: Sequence[Round]) -> list[Any]:
    return [pick for pick, _ in rounds]


def longest_agreeing(kept: Sequence[Round], new: Sequence[Round]) -> list[Round]:
    """``kept`` if it extends ``new`` (same picks first), else ``new``."""
    if len(kept) > len(new) and picks(kept[: len(new)]) == picks(new):
        return list(kept)
    return list(new)


def logged_pick(
    log: RoundLog | None, done: Sequence[Round], candidates: Sequence[Any]
) -> Round | None:
    """The logged round after ``done``, if the log agrees with ``done`` and its pick is a candidate."""
    if log is None:
        return None
    rounds = log.load()
    r = len(done)
    if len(rounds) <= r or picks(rounds[:r]) != picks(done):
        return None
    pick, loss = rounds[r]
    return (pick, float(loss)) if pick in candidates else None


def next_round(
    log: RoundLog | None,
    done: Sequence[Round],
    candidates: Sequence[Any],
    replaying: bool,
    compute: Callable[[], Round],
    skip: Callable[[], None],
) -> tuple[Any, float, bool]:
    """(pick, loss, replayed) of the round after ``done``: the log's while ``replaying`` and the
    log agrees (``skip`` then reports the round's work as done), else ``compute()``'s."""
    logged = logged_pick(log, done, candidates) if replaying else None
    if logged is not None:
        skip()
        return logged[0], logged[1], True
    pick, loss = compute()
    return pick, loss, False


def search_details(log: RoundLog | None, reused: int, rounds: int) -> dict[str, Any]:
    """What a run records about its search's reuse: only where the log is kept outside the process."""
    if log is None or log.key is None:
        return {}
    return {"search_log": {"key": log.key, "rounds": rounds, "rounds_reused": reused}}
