"""Run one spec end to end in four steps: open the run, calibrate, apply, run the suites.

Order matters for the store's guarantees: everything the user can get wrong is checked
before a run row exists (``prepare`` before loading: names, parameters, calibration dataset,
and what the model's config says without its weights; ``open_run`` against the loaded model);
once it exists, the run ends ``succeeded`` or ``failed`` (with the error), and each suite's
results land in one transaction. ``resume_run_id`` skips suites that are already stored (used
by workers after a redelivery and by ``run --resume``), and only when the run recorded the
same model, method config and data (``harness.resume_check``). A suite that compares against
dense in this process gets a weight-sharing copy of the model made before ``apply``.
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
from harness import preflight, resume_check, search_logs
from harness.data import CALIBRATION_DATASETS, DataSource
from harness.models import (
    LoadedModel,
    ModelSpec,
    load_model,
    same_weights_copy,
    weight_versions,
    weights_untouched,
)
from harness.run_record import RecordedRun, new_record
from harness.suites.base import MetricValue, ProgressFn, Suite, SuiteContext, build_suite
from methods.base import ApplyContext, Method
from methods.layers import num_decoder_layers
from methods.registry import get_method
from skipbench.errors import InvalidInput
from skipbench.records import ResultRow

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
    """Validate everything that does not need the model's weights; raises ``InvalidInput``.

    Where the model's config can be read here (a ``config:`` model, a local folder), the layer
    count, context window and random weights are checked against it too. A local path that is
    not on this machine is left to ``load_model`` (at ``submit`` it may exist on the worker).
    """
    method_cls = get_method(spec.method)
    method = method_cls(method_cls.Config.from_params(spec.method_params))
    names = [s.name for s in spec.suites]
    if not names:
        raise InvalidInput("at least one --suite is required")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"suite(s) {', '.join(dupes)} given more than once")
    suites = [build_suite(s.name, s.params) for s in spec.suites]
    calib = method.calibration_spec()
    if calib is not None and calib.dataset not in CALIBRATION_DATASETS:
        raise InvalidInput(
            f"calib_dataset={calib.dataset!r} is unknown; allowed: {', '.join(CALIBRATION_DATASETS)}"
        )
    facts = preflight.model_facts(spec.model.source, missing_ok=True)
    if facts is not None:
        preflight.check_random_weights(spec.model.source, facts.random_weights, suites)
        if facts.num_layers is not None:
            method.validate_for(facts.num_layers)
        preflight.check_context_window(suites, facts.context_window)
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
    """Run ``spec``; returns the run as the JSON contract (``run_to_dict``), stored or not."""
    prepared = prepare(spec)
    lm = load_model(spec.model)
    try:
        run = open_run(prepared, lm, store, job_id=job_id, resume_run_id=resume_run_id)
        with run.failed_on_error():
            calibration = calibrate(prepared, lm)
            if run.resumed_from is not None and run.record.id is not None:
                recorded = (run.resumed_from.method_details or {}).get("calibration")
                resume_check.check_calibration(run.record.id, recorded, calibration.record)
            baseline = apply(prepared, lm, run, calibration, progress)
            run_suites(prepared, lm, run, baseline, progress)
        return run.succeed()
    finally:
        del lm
        free_memory()


def open_run(
    prepared: Prepared,
    lm: LoadedModel,
    store: Store | None,
    *,
    job_id: int | None = None,
    resume_run_id: int | None = None,
) -> RecordedRun:
    """Check what needs the loaded model, then create (or reopen) the run: the first write."""
    spec, method = prepared.spec, prepared.method
    method.validate_for(num_decoder_layers(lm.model))
    preflight.check_random_weights(
        spec.model.source, bool(lm.info.get("random_weights")), prepared.suites
    )
    config = getattr(lm.model, "config", None)
    preflight.check_context_window(
        prepared.suites, getattr(config, "max_position_embeddings", None)
    )
    record = new_record(
        lm,
        method_name=method.name,
        method_config=method.config.to_dict(),
        sparsity=method.nominal_sparsity(),
        suites={s.name: s.config.to_dict() for s in prepared.suites},
        seed=spec.seed,
        extra_provenance={"spec_key": spec.key(), "spec": spec.to_dict()},
    )
    return RecordedRun.open(record, store, job_id=job_id, resume_run_id=resume_run_id)


@dataclass(frozen=True)
class Calibration:
    ids: Any = None  # torch.LongTensor [num_samples, seq_len], or None: the method needs none
    record: dict[str, Any] | None = None  # what the run's method details say about it


def calibrate(prepared: Prepared, lm: LoadedModel) -> Calibration:
    """Seed, then draw the method's calibration sample (if it asks for one)."""
    _seed_everything(prepared.spec.seed)
    calib_spec = prepared.method.calibration_spec()
    if calib_spec is None:
        return Calibration()
    from harness.calibration import calibration_ids

    ids, record = calibration_ids(calib_spec, lm.tokenizer, prepared.spec.calib_source)
    return Calibration(ids, record)


def apply(
    prepared: Prepared,
    lm: LoadedModel,
    run: RecordedRun,
    calibration: Calibration,
    progress: ProgressFn | None,
) -> Any:
    """Apply the method to ``lm`` and record its details; returns the dense baseline or None.

    The baseline is a copy of the model made before ``apply`` that shares every weight, kept
    only when a suite still to run compares against dense in this process; it is dropped if
    the method modified the shared weights in place.
    """
    method = prepared.method
    baseline, versions = None, {}
    if method.name != "dense" and any(
        s.wants_baseline() for s in prepared.suites if s.name not in run.done
    ):
        baseline, versions = same_weights_copy(lm.model), weight_versions(lm.model)
    t0 = time.perf_counter()
    logs = search_logs.round_logs_for(lm.model, lm.info, calibration.ids)
    ctx = ApplyContext(calibration=calibration.ids, progress=progress, round_logs=logs)
    outcome = method.apply(lm.model, ctx)
    details = dict(outcome.details)
    details["apply_seconds"] = round(time.perf_counter() - t0, 3)
    if baseline is not None and not weights_untouched(baseline, versions):
        baseline = None  # the shared weights changed in place: the copy is no longer dense
        details["baseline"] = "none: the method modified weights in place"
    if calibration.record is not None:
        details["calibration"] = calibration.record
    lm.model = outcome.model
    run.set_method_details(details)
    return baseline


def run_suites(
    prepared: Prepared,
    lm: LoadedModel,
    run: RecordedRun,
    baseline: Any,
    progress: ProgressFn | None,
) -> None:
    """Each suite not yet stored, from the same seed; each one stored as it finishes."""
    seed = prepared.spec.seed
    for suite in prepared.suites:
        if suite.name in run.done:
            continue
        _seed_everything(seed)
        ctx = SuiteContext(
            progress=progress,
            seed=seed,
            baseline=baseline if suite.wants_baseline() else None,
            method_details=run.record.method_details,
        )
        outcome = suite.run(lm, ctx)
        artifacts = dict(outcome.artifacts)
        if outcome.info:
            artifacts.setdefault("suite_info", outcome.info)
        run.add_suite(
            suite.name, result_rows(suite, outcome.results), artifacts, outcome.data_files
        )


def result_rows(suite: Suite, values: list[MetricValue]) -> list[ResultRow]:
    """Suite metric values + the suite's metric metadata -> result rows."""
    rows = []
    for v in values:
        metric = suite.metric(v.metric)
        rows.append(
            ResultRow(
                suite=suite.name,
                task=v.task,
                metric=v.metric,
                value=float(v.value),
                higher_is_better=metric.higher_is_better,
                stderr=v.stderr,
                n=v.n,
                unit=metric.unit,
                display_name=metric.display_name,
            )
        )
    return rows
