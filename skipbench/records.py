"""The run record: one evaluation's facts and the one JSON shape every caller prints.

The harness builds a ``RunRecord`` once per run. A store keeps it as a ``runs`` row whose
columns carry the same names, and ``run_to_dict`` serializes either one, so a run printed
straight from memory and a run read back from the store have the same shape (the JSON
contract of ``skipbench run --json`` and ``results --format json``). Plain data, no imports of
ours: ``db`` and ``harness`` both build on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

# set by whoever keeps the run (the store, or the harness when there is none), never by the
# code that describes the evaluation
LIFECYCLE = ("id", "status", "error", "created_at", "finished_at")

# run_to_dict's nested objects: JSON key -> the run's attribute (model_info joins "model")
MODEL_KEYS = {
    "id": "model_id",
    "revision": "model_revision",
    "hash": "model_hash",
    "dtype": "model_dtype",
    "params": "model_params",
    "random_weights": "random_weights",
}
METHOD_KEYS = {"name": "method_name", "config": "method_config", "details": "method_details"}
PROVENANCE_KEYS = {"device": "device", "data_files": "data_files"}  # set over run.provenance
# a result's keys, in the order run_to_dict writes them (ResultRow's fields)
RESULT_KEYS = (
    "suite",
    "task",
    "metric",
    "value",
    "stderr",
    "n",
    "unit",
    "higher_is_better",
    "display_name",
)


@dataclass(frozen=True)
class ResultRow:
    """What a suite hands to the store for one (task, metric)."""

    suite: str
    task: str
    metric: str
    value: float
    higher_is_better: bool
    stderr: float | None = None
    n: int | None = None
    unit: str = ""
    display_name: str = ""


@dataclass
class RunRecord:
    """One run: the model, the method, the suites' configs, where and how it ran."""

    model_id: str
    model_dtype: str
    method_name: str
    model_revision: str | None = None
    model_hash: str | None = None
    model_params: int | None = None
    random_weights: bool = False
    model_info: dict[str, Any] = field(default_factory=dict)
    method_config: dict[str, Any] = field(default_factory=dict)
    method_details: dict[str, Any] = field(default_factory=dict)
    sparsity: float | None = None
    suites: dict[str, Any] = field(default_factory=dict)  # suite name -> config
    seed: int = 0
    device: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    data_files: dict[str, str] = field(default_factory=dict)  # path -> sha256
    id: int | None = None
    status: str = "running"
    error: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None

    def columns(self) -> dict[str, Any]:
        """The facts a store writes when it creates the run (the lifecycle fields are its own)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in LIFECYCLE}


def run_to_dict(run: Any, results: Iterable[Any]) -> dict[str, Any]:
    """The JSON contract of one run; ``results`` are that run's results, in order.

    ``run`` is a ``RunRecord`` or a stored ``runs`` row (same attribute names), each result a
    ``ResultRow`` or a stored ``results`` row.
    """
    return {
        "run_id": run.id,
        "status": run.status,
        "error": run.error,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "model": {
            **{key: getattr(run, attr) for key, attr in MODEL_KEYS.items()},
            **(run.model_info or {}),
        },
        "method": {key: getattr(run, attr) for key, attr in METHOD_KEYS.items()},
        "sparsity": run.sparsity,
        "suites": run.suites,
        "seed": run.seed,
        "results": [{key: getattr(r, key) for key in RESULT_KEYS} for r in results],
        "provenance": {
            **(run.provenance or {}),
            **{key: getattr(run, attr) for key, attr in PROVENANCE_KEYS.items()},
        },
    }


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def run_from_dict(data: dict[str, Any]) -> tuple[RunRecord, list[ResultRow]]:
    """The inverse of ``run_to_dict`` (what a result bundle stores back).

    Exact unless ``model_info`` or ``provenance`` held a key that ``run_to_dict`` sets beside
    them (``MODEL_KEYS``, ``PROVENANCE_KEYS``): such a key is shadowed in the JSON.
    """
    model, provenance = dict(data["model"]), dict(data.get("provenance") or {})
    facts = {attr: model.pop(key) for key, attr in MODEL_KEYS.items() if key in model}
    facts |= {
        attr: data["method"][key] for key, attr in METHOD_KEYS.items() if key in data["method"]
    }
    facts |= {
        attr: provenance.pop(key) for key, attr in PROVENANCE_KEYS.items() if key in provenance
    }
    record = RunRecord(
        **facts,
        model_info=model,
        provenance=provenance,
        **{k: data[k] for k in ("sparsity", "suites", "seed", "status", "error") if k in data},
        id=data.get("run_id"),
        created_at=_time(data.get("created_at")),
        finished_at=_time(data.get("finished_at")),
    )
    return record, [
        ResultRow(**{key: r[key] for key in RESULT_KEYS if key in r}) for r in data["results"]
    ]
