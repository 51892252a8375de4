"""The evaluation options ``run`` and ``submit`` share: one dataclass, one ``RunSpec``.

``SpecOptions`` declares each option once (name, type, default, typer option with its help).
``spec_options`` gives a command one typer parameter per field and hands the command a single
``SpecOptions``, so the two commands cannot drift. ``SpecCommand`` fills the ``--suite`` help
with the registered suites only when help is shown, so importing the CLI stays light.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperOption

from skipbench.config import parse_assignments
from skipbench.errors import InvalidInput

if TYPE_CHECKING:
    from harness.runner import RunSpec

SUITE_HELP = "{suites} (repeatable; default perplexity)"


def _option(default: Any, *decls: str, help: str) -> Any:
    return field(default=default, metadata={"option": typer.Option(*decls, help=help)})


@dataclass(frozen=True)
class SpecOptions:
    """What to evaluate and how: every option of ``run`` and ``submit`` that shapes the spec."""

    model: str | None = _option(
        None, "--model", "-m", help="hub id, local folder, .gguf file, or catalog name"
    )
    method: str = _option(
        "dense", "--method", help="registered method name (see `skipbench methods`)"
    )
    sparsity: float | None = _option(
        None, "--sparsity", help="fraction of computation to skip, in [0, 1)"
    )
    sets: list[str] | None = _option(None, "--set", help="method parameter key=value (repeatable)")
    suites: list[str] | None = _option(
        None, "--suite", help=SUITE_HELP.format(suites="a registered suite")
    )
    tasks: list[str] | None = _option(None, "--task", help="task of a chosen suite (repeatable)")
    suite_sets: list[str] | None = _option(
        None, "--suite-set", help="suite parameter SUITE.key=value (repeatable)"
    )
    limit: int | None = _option(None, "--limit", help="first N windows / examples per task")
    seq_len: int | None = _option(None, "--seq-len", help="perplexity window length (default 2048)")
    batch_size: int | None = _option(None, "--batch-size", help="evaluation batch size")
    device: str = _option("auto", "--device", help="auto, cpu, cuda, cuda:N")
    dtype: str = _option("auto", "--dtype", help="auto, float32, bfloat16, float16")
    revision: str | None = _option(None, "--revision", help="hub revision (branch, tag or commit)")
    trust_remote_code: bool = _option(
        False, "--trust-remote-code", help="allow custom model code from the hub"
    )
    seed: int = _option(0, "--seed", help="seed for calibration sampling and everything random")
    calib_source: str = _option("auto", "--calib-source", help="calibration data: auto, local, hub")
    log_samples: bool = _option(
        False,
        "--log-samples",
        help="store per-sample records with the run (zeroshot, longbench)",
    )

    def to_spec(self) -> RunSpec:
        """The ``RunSpec`` these options describe; bad values are an ``InvalidInput``."""
        from harness.models import ModelSpec
        from harness.runner import RunSpec, SuiteSpec

        if self.model is None:
            raise InvalidInput(
                "--model is required (a hub id, local folder, .gguf file or catalog name)"
            )
        method_params: dict[str, Any] = parse_assignments(self.sets)
        if self.sparsity is not None:
            method_params["sparsity"] = self.sparsity
        suites = tuple(SuiteSpec(n, p) for n, p in self.suite_params().items())
        if self.calib_source not in ("auto", "local", "hub"):
            raise InvalidInput(f"--calib-source {self.calib_source!r}; allowed: auto, local, hub")
        return RunSpec(
            model=ModelSpec(
                source=self.model,
                revision=self.revision,
                dtype=self.dtype,  # type: ignore[arg-type]  # ModelSpec validates it
                device=self.device,  # type: ignore[arg-type]
                trust_remote_code=self.trust_remote_code,
            ),
            method=self.method,
            method_params=method_params,
            suites=suites,
            seed=self.seed,
            calib_source=self.calib_source,  # type: ignore[arg-type]
        )

    def suite_params(self) -> dict[str, dict[str, Any]]:
        """Each chosen suite's parameters: its tasks, the shared options its config has, and
        its ``--suite-set`` values."""
        from harness.suites.base import suite_class

        names = list(dict.fromkeys(self.suites or ["perplexity"]))
        classes = {name: suite_class(name) for name in names}
        per_suite: dict[str, dict[str, Any]] = {name: {} for name in names}
        for task in self.tasks or []:
            owners = [n for n, c in classes.items() if task in c.tasks]
            if not owners:
                known = ", ".join(t for c in classes.values() for t in c.tasks)
                raise InvalidInput(
                    f"unknown task {task!r} for suite(s) {', '.join(names)}; allowed: {known}"
                )
            for owner in owners:
                per_suite[owner].setdefault("tasks", []).append(task)
        # options that apply to every suite whose config has a field of that name
        shared: dict[str, Any] = {
            "limit": self.limit,
            "seq_len": self.seq_len,
            "batch_size": self.batch_size,
            "log_samples": True if self.log_samples else None,
        }
        for name, cls in classes.items():
            config_fields = {f[0] for f in cls.Config.describe()}
            for key, value in shared.items():
                if value is not None and key in config_fields:
                    per_suite[name][key] = value
        for key, value in parse_assignments(self.suite_sets).items():
            suite, dot, param = key.partition(".")
            if not dot or suite not in per_suite:
                raise InvalidInput(
                    f"--suite-set {key!r}: expected SUITE.param=value with SUITE in {', '.join(names)}"
                )
            per_suite[suite][param] = value
        return per_suite


def spec_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` one typer option per ``SpecOptions`` field, in place of its parameter
    ``options: SpecOptions`` (its other parameters follow, as declared)."""
    hints = typing.get_type_hints(SpecOptions)
    shared = [
        inspect.Parameter(
            f.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=f.default,
            annotation=Annotated[hints[f.name], f.metadata["option"]],
        )
        for f in fields(SpecOptions)
    ]
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for p in inspect.signature(command, eval_str=True).parameters.values()
        if p.name != "options"
    ]
    names = [f.name for f in fields(SpecOptions)]

    @functools.wraps(command)
    def with_options(**kwargs: Any) -> Any:
        options = SpecOptions(**{name: kwargs.pop(name) for name in names})
        return command(options=options, **kwargs)

    params = [*shared, *own]
    with_options.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    with_options.__annotations__ = {p.name: p.annotation for p in params}
    return with_options


class SpecCommand(TyperCommand):
    """A command whose ``--suite`` help lists the registered suites, read when help is shown."""

    def format_help(self, ctx: Any, formatter: Any) -> None:  # runs only for --help
        from harness.suites.base import suite_names

        for param in self.params:
            if param.name == "suites" and isinstance(param, TyperOption):
                param.help = SUITE_HELP.format(suites=", ".join(suite_names()))
        super().format_help(ctx, formatter)
