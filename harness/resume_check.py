"""Resuming a run continues the same evaluation, or refuses with what changed.

A resumed run keeps the suites it already stored and runs the rest; those rest must be
computed on the same weights, with the same method config and on the same data, or the run
would mix two evaluations under one model hash. ``check_resumable`` compares what the run
recorded with what this process loaded (before the run row is touched); ``check_calibration``
compares the calibration sample once it is drawn. Both raise ``InvalidInput`` with one line.
"""

from __future__ import annotations

from typing import Any

from harness import process_identity
from harness.data import local_path, sha256_file
from skipbench.errors import InvalidInput
from skipbench.records import RunRecord


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 16 else text[:12] + "…"


def _refuse(run_id: int, what: str) -> InvalidInput:
    return InvalidInput(
        f"run {run_id} cannot be resumed: {what}; restore it, or start a new run (without --resume)"
    )


def _first_difference(recorded: dict[str, Any], now: dict[str, Any]) -> str | None:
    for key in sorted(set(recorded) | set(now)):
        if recorded.get(key) != now.get(key):
            return f"{key}={recorded.get(key)!r} recorded, {now.get(key)!r} now"
    return None


def _current_sha(relative: str) -> str | None:
    path = local_path(relative)
    if not path.is_file():
        return None
    return sha256_file(str(path))


def recorded_data_files(stored: Any) -> dict[str, str]:
    """Every local data file the run recorded (suites' and calibration's): path -> sha256."""
    files = dict(stored.data_files or {})
    calibration = (stored.method_details or {}).get("calibration") or {}
    files.update(calibration.get("files") or {})
    return files


def check_resumable(stored: Any, record: RunRecord) -> None:
    """Refuse to resume ``stored`` (a stored run) as ``record`` (this process's) if they differ."""
    run_id = stored.id
    if stored.status == "succeeded":
        raise InvalidInput(f"run {run_id} already succeeded; nothing to resume")
    running = (stored.provenance or {}).get("process") or {}
    ours = running.get("pid") == record.provenance.get("process", {}).get("pid")
    if stored.status == "running" and process_identity.is_gone(running) is False and not ours:
        raise InvalidInput(
            f"run {run_id} is still running ({process_identity.describe(running)}); "
            "resume it once that process has ended"
        )
    if stored.model_id != record.model_id:
        raise _refuse(run_id, f"the model is {record.model_id!r} now, {stored.model_id!r} recorded")
    if stored.model_hash != record.model_hash:
        raise _refuse(
            run_id,
            f"the weights of {record.model_id!r} changed (sha256 {_short(stored.model_hash)} "
            f"recorded, {_short(record.model_hash)} now)",
        )
    if stored.model_hash is None and stored.model_revision != record.model_revision:
        raise _refuse(
            run_id,
            f"the revision of {record.model_id!r} changed ({stored.model_revision!r} recorded, "
            f"{record.model_revision!r} now)",
        )
    if stored.model_dtype != record.model_dtype:
        raise _refuse(run_id, f"dtype {record.model_dtype} now, {stored.model_dtype} recorded")
    if stored.method_name != record.method_name:
        raise _refuse(run_id, f"method {record.method_name!r} now, {stored.method_name!r} recorded")
    changed = _first_difference(stored.method_config or {}, record.method_config)
    if changed:
        raise _refuse(run_id, f"the {record.method_name} config changed ({changed})")
    for suite in sorted(set(stored.suites or {}) | set(record.suites)):
        changed = _first_difference(
            (stored.suites or {}).get(suite) or {}, record.suites.get(suite) or {}
        )
        if changed:
            raise _refuse(run_id, f"the {suite} suite config changed ({changed})")
    if stored.seed != record.seed:
        raise _refuse(run_id, f"seed {record.seed} now, {stored.seed} recorded")
    for relative, sha in sorted(recorded_data_files(stored).items()):
        now = _current_sha(relative)
        if now is None:
            raise _refuse(run_id, f"data file {relative} (sha256 {_short(sha)}) is missing here")
        if now != sha:
            raise _refuse(
                run_id,
                f"data file {relative} changed (sha256 {_short(sha)} recorded, {_short(now)} now)",
            )


def check_calibration(
    run_id: int, recorded: dict[str, Any] | None, now: dict[str, Any] | None
) -> None:
    """The calibration sample drawn now must be the one the run's method was applied with."""
    if not recorded or now is None:
        return  # the run never got as far as applying its method: nothing was computed on it
    changed = _first_difference(recorded, now)
    if changed:
        raise _refuse(run_id, f"the calibration data changed ({changed})")
