"""Sanity checks a speed figure carries with it (pure: result dicts in, warning texts out).

Removing a fraction ``r`` of the compute can at best make a model ``1 / (1 - r)`` times faster
(the task's stored ``ideal_speedup`` where the throughput suite stored one, else ``r`` = the
realized sparsity the method stored, ``method_details.sparsity.realized``); a
speedup above that (with some room for noise) means the timing, not the method, moved. A
decode whose time to first token is not below its total time, and a p90/median spread far
from 1, mean the machine was busy. CPU timings depend on the host and its load: they are
never comparable across machines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

IDEAL_ROOM = 1.05  # a speedup up to 5% over its ideal is measurement noise
SPREAD_LIMIT = 1.25  # p90 / median above this: the timings scatter too much to trust
CPU_NOTE = "CPU timing: not comparable across machines"


def realized_sparsity(method_details: Any) -> float | None:
    sparsity = method_details.get("sparsity") if isinstance(method_details, Mapping) else None
    value = sparsity.get("realized") if isinstance(sparsity, Mapping) else None
    return float(value) if isinstance(value, (int, float)) and 0 <= value < 1 else None


def ideal_speedup(method_details: Any) -> float | None:
    """``1 / (1 - realized sparsity)``, or None when the method stored no realized sparsity."""
    realized = realized_sparsity(method_details)
    return None if realized is None else 1.0 / (1.0 - realized)


def is_cpu(device: Any) -> bool:
    return isinstance(device, str) and device.lower().startswith("cpu")


def speed_flags(
    results: Iterable[Mapping[str, Any]],
    method_details: Any,
    method_name: str = "",
    artifacts: Iterable[Mapping[str, Any]] = (),
) -> list[str]:
    """Warnings for one run's (or one row's) throughput results, and for the in-process dense
    side of its ``throughput`` artifact when given (``{"suite", "name", "payload"}`` dicts)."""
    values: dict[tuple[str, str], float] = {}
    for r in results:
        if str(r["suite"]).startswith("throughput"):
            values[(r["task"], r["metric"])] = float(r["value"])
    flags = []
    ideal = ideal_speedup(method_details)
    side = "dense baseline" if method_name == "dense" else "run"
    for task in sorted({t for t, _ in values}):
        speedup = values.get((task, "speedup"))
        # the suite's own ideal for this task (FLOPs or weight bytes) before the derived one
        task_ideal = values.get((task, "ideal_speedup"), ideal)
        if task_ideal is not None and speedup is not None and speedup > task_ideal * IDEAL_ROOM:
            flags.append(f"{task}: speedup {speedup:.2f}× is above its ideal {task_ideal:.2f}×")
        ttft, tpot = values.get((task, "ttft_ms")), values.get((task, "tpot_ms"))
        if ttft is not None and tpot is not None and tpot <= 0:  # stored as max(total - ttft, 0)
            flags.append(f"{task}: {side} time to first token is not below its total time")
        median, p90 = values.get((task, "latency_ms")), values.get((task, "latency_p90_ms"))
        if median and p90 is not None and p90 / median > SPREAD_LIMIT:
            flags.append(f"{task}: {side} spread p90/median {p90 / median:.2f} > {SPREAD_LIMIT}")
    for art in artifacts:
        if art.get("name") != "throughput" or not isinstance(art.get("payload"), list):
            continue
        for rec in art["payload"]:
            if isinstance(rec, Mapping) and rec.get("side") == "dense":
                flags += _dense_side(rec)
    return flags


def _dense_side(rec: Mapping[str, Any]) -> list[str]:
    """The dense model timed in the same process: its decode and its spread."""
    task, out = rec.get("task", "?"), []
    ttft, total = rec.get("ttft") or {}, rec.get("total") or {}
    first, whole = ttft.get("median_ms"), total.get("median_ms")
    if first is not None and whole is not None and first >= whole:
        out.append(f"{task}: dense baseline time to first token exceeds its total time")
    for stats in (rec, total):
        median, p90 = stats.get("median_ms"), stats.get("p90_ms")
        if median and p90 is not None and p90 / median > SPREAD_LIMIT:
            out.append(
                f"{task}: dense baseline spread p90/median {p90 / median:.2f} > {SPREAD_LIMIT}"
            )
    return out


def run_warnings(
    results: Iterable[Mapping[str, Any]],
    method_details: Any,
    method_name: str,
    device: Any,
    artifacts: Iterable[Mapping[str, Any]] = (),
) -> list[str]:
    """``speed_flags`` plus the CPU note, for a run that stored throughput results."""
    speed = [r for r in results if str(r["suite"]).startswith("throughput")]
    if not speed:
        return []
    flags = speed_flags(speed, method_details, method_name, artifacts)
    return flags + ([CPU_NOTE] if is_cpu(device) else [])
