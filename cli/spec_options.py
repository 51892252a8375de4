"""Turn ``run``/``submit`` command-line options into a ``RunSpec`` (shared by both commands)."""

from __future__ import annotations

from typing import Any

from skipbench.config import parse_assignments
from skipbench.errors import InvalidInput

# options that apply to every suite whose config has a field of that name


def build_spec(
    *,
    model: str,
    method: str,
    sparsity: float | None,
    sets: list[str] | None,
    suites: list[str] | None,
    tasks: list[str] | None,
    suite_sets: list[str] | None,
    limit: int | None,
    seq_len: int | None,
    batch_size: int | None,
    device: str,
    dtype: str,
    revision: str | None,
    trust_remote_code: bool,
    seed: int,
    calib_source: str = "auto",
    log_samples: bool = False,
):  # noqa: ANN201 -> RunSpec (imported lazily)
    from harness.models import ModelSpec
    from harness.runner import RunSpec, SuiteSpec
    from harness.suites.base import suite_class

    method_params: dict[str, Any] = parse_assignments(sets)
    if sparsity is not None:
        method_params["sparsity"] = sparsity
    suite_names = list(dict.fromkeys(suites or ["perplexity"]))
    classes = {name: suite_class(name) for name in suite_names}
    per_suite: dict[str, dict[str, Any]] = {name: {} for name in suite_names}
    for task in tasks or []:
        owners = [n for n, c in classes.items() if task in c.tasks]
        if not owners:
            known = ", ".join(t for c in classes.values() for t in c.tasks)
            raise InvalidInput(
                f"unknown task {task!r} for suite(s) {', '.join(suite_names)}; allowed: {known}"
            )
        for owner in owners:
            per_suite[owner].setdefault("tasks", []).append(task)
    shared = {
        "limit": limit,
        "seq_len": seq_len,
        "batch_size": batch_size,
        "log_samples": True if log_samples else None,
    }
    for name, cls in classes.items():
        fields = {f[0] for f in cls.Config.describe()}
        for key, value in shared.items():
            if value is not None and key in fields:
                per_suite[name][key] = value
    for key, value in parse_assignments(suite_sets).items():
        suite, dot, param = key.partition(".")
        if not dot or suite not in per_suite:
            raise InvalidInput(
                f"--suite-set {key!r}: expected SUITE.param=value with SUITE in {', '.join(suite_names)}"
            )
        per_suite[suite][param] = value
    if calib_source not in ("auto", "local", "hub"):
        raise InvalidInput(f"--calib-source {calib_source!r}; allowed: auto, local, hub")
    return RunSpec(
        model=ModelSpec(
            source=model,
            revision=revision,
            dtype=dtype,
            device=device,
            trust_remote_code=trust_remote_code,
        ),
        method=method,
        method_params=method_params,
        suites=tuple(SuiteSpec(n, p) for n, p in per_suite.items()),
        seed=seed,
        calib_source=calib_source,  # type: ignore[arg-type]
    )
