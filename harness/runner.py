"""Run one spec end to end: validate, load, apply the method, run the suites, store.

Order matters for the store's guarantees: everything the user can get wrong is checked
before a run row exists; once it exists, the run ends ``succeeded`` or ``failed`` (with the
error), and each suite's results land in one transaction. ``resume_run_id`` skips suites that
are already stored (used by workers after a redelivery).
"""

from __future__ import annotations

import gc
import hashlib
import json
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import skipbench
from harness.data import DataSource
from harness.models import (
    LoadedModel,
    ModelSpec,
    load_model,
    same_weights_copy,
    weight_versions,
    weights_untouched,
)
from harness.suites.base import ProgressFn, Suite, SuiteContext, build_suite
from methods.base import ApplyContext, Method
from methods.layers import num_decoder_layers
from methods.registry import get_method
from skipbench.errors import InvalidInput

if TYPE_CHECKING:
    from db.store import Store


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSpec:
    model: ModelSpec
    method: str = "dense"
    method_params: dict[str, Any] = field(default_factory=dict)
    suites: tuple[SuiteSpec, ...] = (SuiteSpec("perplexity"),)
    seed: int = 0
    calib_source: DataSource = "auto"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "method": self.method,
            "method_params": dict(self.method_params),
            "suites": [{"name": s.name, "params": dict(s.params)} for s in self.suites],
            "seed": self.seed,
            "calib_source": self.calib_source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        return cls(
            model=ModelSpec.from_params(d["model"]),
            method=d.get("method", "dense"),
            method_params=dict(d.get("method_params", {})),
            suites=tuple(
                SuiteSpec(s["name"], dict(s.get("params", {}))) for s in d.get("suites", [])
            ),
            seed=int(d.get("seed", 0)),
            calib_source=d.get("calib_source", "auto"),
        )

    def key(self) -> str:
        """Identity of the evaluation: same key, same numbers (includes SkipBench's version)."""
        payload = {**self.to_dict(), "skipbench": skipbench.__version__}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Prepared:
    """A spec whose method and suites are built and validated (no model loaded yet)."""

    spec: RunSpec
    method: Method
    suites: list[Suite]


def prepare(spec: RunSpec) -> Prepared:
    """Validate everything that does not need the model; raises ``InvalidInput``."""
    method_cls = get_method(spec.method)
    method = method_cls(method_cls.Config.from_params(spec.method_params))
    names = [s.name for s in spec.suites]
    if not names:
        raise InvalidInput("at least one --suite is required")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"suite(s) {', '.join(dupes)} given more than once")
    suites = [build_suite(s.name, s.params) for s in spec.suites]
    return Prepared(spec, method, suites)


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def execute(
    spec: RunSpec,
    store: Store | None = None,
    progress: ProgressFn | None = None,
    *,
    job_id: int | None = None,
    resume_run_id: int | None = None,
) -> dict[str, Any]:
    """Run ``spec``; returns the run as the JSON contract (``db.store.run_to_dict`` shape)."""
    prepared = prepare(spec)
    lm = load_model(spec.model)
    try:
        return _execute_loaded(prepared, lm, store, progress, job_id, resume_run_id)
    finally:
        del lm
        free_memory()


def _execute_loaded(
    prepared: Prepared,
    lm: LoadedModel,
    store: Store | None,
    progress: ProgressFn | None,
    job_id: int | None,
    resume_run_id: int | None,
) -> dict[str, Any]:
    from harness import provenance

    spec, method = prepared.spec, prepared.method
    total_layers = num_decoder_layers(lm.model)
    method.validate_for(total_layers)
    if lm.info.get("random_weights"):
        quality = [s.name for s in prepared.suites if s.needs_real_weights]
        if quality:
            raise InvalidInput(
                f"model {spec.model.source!r} has random weights; suite(s) {', '.join(quality)} "
                "measure quality and need real weights (only 'throughput' accepts config: models)"
            )
    record: dict[str, Any] = {
        "model_id": lm.info["display"],
        "model_revision": lm.info.get("revision"),
        "model_hash": lm.info.get("hash"),
        "model_dtype": lm.info["dtype"],
        "model_params": lm.info["params"],
        "random_weights": bool(lm.info.get("random_weights")),
        "model_info": {
            k: lm.info[k] for k in ("model_type", "num_layers", "source_kind") if k in lm.info
        },
        "method_name": method.name,
        "method_config": method.config.to_dict(),
        "sparsity": method.nominal_sparsity(),
        "suites": {s.name: s.config.to_dict() for s in prepared.suites},
        "seed": spec.seed,
        "device": provenance.device_name(lm.device),
        "provenance": {
            **provenance.collect(lm.device),
            "spec_key": spec.key(),
            "spec": spec.to_dict(),
        },
    }
    run_id = resume_run_id
    done: set[str] = set()
    if store is not None:
        if run_id is None:
            run_id = store.create_run(job_id=job_id, **record)
        else:
            store.update_run(run_id, status="running", error=None, finished_at=None)
            done = store.completed_suites(run_id)
    results: list[dict[str, Any]] = []
    try:
        _seed_everything(spec.seed)
        calibration = None
        calib_record = None
        calib_spec = method.calibration_spec()
        if calib_spec is not None:
            from harness.calibration import calibration_ids

            calibration, calib_record = calibration_ids(calib_spec, lm.tokenizer, spec.calib_source)
        baseline, versions = None, {}
        if method.name != "dense" and any(
            s.wants_baseline() for s in prepared.suites if s.name not in done
        ):
            baseline, versions = same_weights_copy(lm.model), weight_versions(lm.model)
        t0 = time.perf_counter()
        outcome = method.apply(lm.model, ApplyContext(calibration=calibration, progress=progress))
        details = dict(outcome.details)
        details["apply_seconds"] = round(time.perf_counter() - t0, 3)
        if baseline is not None and not weights_untouched(baseline, versions):
            baseline = None  # the shared weights changed in place: the copy is no longer dense
            details["baseline"] = "none: the method modified weights in place"
        if calib_record is not None:
            details["calibration"] = calib_record
        lm.model = outcome.model
        record["method_details"] = details
        if store is not None and run_id is not None:
            store.update_run(run_id, method_details=details)
        for suite in prepared.suites:
            if suite.name in done:
                continue
            _seed_everything(spec.seed)
            ctx = SuiteContext(
                progress=progress,
                seed=spec.seed,
                baseline=baseline if suite.wants_baseline() else None,
            )
            suite_out = suite.run(lm, ctx)
            rows = _rows(suite, suite_out.results)
            artifacts = dict(suite_out.artifacts)
            if suite_out.info:
                artifacts.setdefault("suite_info", suite_out.info)
            if store is not None and run_id is not None:
                store.add_suite_results(run_id, suite.name, rows, artifacts, suite_out.data_files)
            results.extend(rows)
            record.setdefault("data_files", {}).update(suite_out.data_files)
    except BaseException as exc:
        if store is not None and run_id is not None:
            store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    if store is not None and run_id is not None:
        from db.store import run_to_dict

        store.finish_run(run_id, "succeeded")
        run = store.get_run(run_id)
        assert run is not None
        return run_to_dict(run, store.results([run_id]))
    return _in_memory_dict(record, results)


def _rows(suite: Suite, values: list) -> list[dict[str, Any]]:
    """Suite metric values + the suite's metric metadata -> result rows (plain dicts)."""
    rows = []
    for v in values:
        spec = suite.metric(v.metric)
        rows.append(
            {
                "suite": suite.name,
                "task": v.task,
                "metric": v.metric,
                "value": float(v.value),
                "higher_is_better": spec.higher_is_better,
                "stderr": v.stderr,
                "n": v.n,
                "unit": spec.unit,
                "display_name": spec.display_name,
            }
        )
    return rows


def _in_memory_dict(record: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "run_id": None,
        "status": "succeeded",
        "model": {
            "id": record["model_id"],
            "dtype": record["model_dtype"],
            "params": record["model_params"],
        },
        "method": {
            "name": record["method_name"],
            "config": record["method_config"],
            "details": record.get("method_details", {}),
        },
        "sparsity": record["sparsity"],
        "results": results,
        "provenance": {
            **record["provenance"],
            "device": record["device"],
            "data_files": record.get("data_files", {}),
        },
    }
