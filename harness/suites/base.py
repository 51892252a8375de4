"""The suite contract and the suite registry.

A suite is a ``Suite[XConfig]`` subclass with a ``declaration`` (its name, tasks and metrics:
``harness.suites.declarations``), a frozen config (``FrozenConfig``: built from CLI options and
``--suite-set`` strings, validated in ``__post_init__``) and ``run()``, which evaluates an
already-modified model and returns ``SuiteOutcome``. Suites are found by name in ``SUITES``:
the built-in folders, ``@register_suite`` and the ``skipbench.suites`` entry-point group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin

from harness.suites.declarations import (
    MetricSpec,
    SuiteDeclaration,
    TaskSpec,
    builtin_declarations,
    builtin_names,
)
from skipbench.config import FrozenConfig
from skipbench.errors import InvalidInput
from skipbench.registry import Registry

__all__ = ["MetricSpec", "SuiteDeclaration", "TaskSpec"]  # re-exported for suite authors

ProgressFn = Callable[[str, float], None]


@dataclass(frozen=True)
class MetricValue:
    task: str
    metric: str  # a MetricSpec.name of the suite
    value: float
    stderr: float | None = None
    n: int | None = None


@dataclass
class SuiteOutcome:
    results: list[MetricValue]
    data_files: dict[str, str] = field(default_factory=dict)  # path -> sha256
    artifacts: dict[str, Any] = field(default_factory=dict)  # name -> JSON payload
    info: dict[str, Any] = field(default_factory=dict)  # echoed into the run's suite config


@dataclass(frozen=True)
class SuiteConfig(FrozenConfig):
    """Options every suite accepts; suites subclass and add their own."""

    tasks: tuple[str, ...] = ()
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise InvalidInput(f"limit={self.limit} must be >= 1")


ConfigT = TypeVar("ConfigT", bound=SuiteConfig)


@dataclass
class SuiteContext:
    progress: ProgressFn | None = None
    seed: int = 0
    # the unmodified model, sharing the method's weights, for suites that compare in-process
    baseline: Any = None
    # what the method reported (``MethodOutcome.details``): realized sparsity, for ideals
    method_details: dict[str, Any] | None = None

    def report(self, what: str, fraction: float) -> None:
        if self.progress is not None:
            self.progress(what, fraction)


class Suite(ABC, Generic[ConfigT]):
    """Subclass as ``Suite[XConfig]`` with ``declaration = DECLARATION``; decorate with
    ``@register_suite`` (a built-in one lives in its own folder, found by name).

    The type argument is the one source of ``Config``; the declaration that of ``name``,
    ``description``, ``tasks`` (the selectable ones), ``default_tasks`` and ``metrics``.
    """

    declaration: ClassVar[SuiteDeclaration]
    name: ClassVar[str]
    description: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]]
    default_tasks: ClassVar[tuple[str, ...]]
    metrics: ClassVar[tuple[MetricSpec, ...]]
    Config: ClassVar[type[SuiteConfig]] = SuiteConfig
    needs_real_weights: ClassVar[bool] = True
    config: ConfigT

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__dict__.get("__orig_bases__", ()):
            if get_origin(base) is Suite and isinstance(get_args(base)[0], type):
                cls.Config = get_args(base)[0]
        declared = cls.__dict__.get("declaration")
        if declared is not None:
            cls.name = declared.name
            cls.description = declared.description
            cls.tasks = declared.selectable_tasks
            cls.default_tasks = declared.default_tasks
            cls.metrics = declared.metrics

    def wants_baseline(self) -> bool:
        """True when the suite should also get the unmodified model (``SuiteContext.baseline``)."""
        return False

    def __init__(self, config: ConfigT) -> None:
        unknown = [t for t in config.tasks if t not in self.tasks]
        if unknown:
            raise InvalidInput(
                f"unknown {self.name} task(s) {', '.join(unknown)}; allowed: {', '.join(self.tasks)}"
            )
        self.config = config

    @property
    def selected_tasks(self) -> tuple[str, ...]:
        return self.config.tasks or self.default_tasks

    @classmethod
    def metric(cls, name: str) -> MetricSpec:
        return cls.declaration.metric(name)

    @abstractmethod
    def run(self, lm: Any, ctx: SuiteContext) -> SuiteOutcome:
        """Evaluate ``lm`` (a ``harness.models.LoadedModel`` whose model is already modified)."""


class UnknownSuite(InvalidInput):
    pass


ENTRY_POINT_GROUP = "skipbench.suites"
SUITES: Registry[type[Suite]] = Registry(
    "suite", ENTRY_POINT_GROUP, builtin_names, unknown=UnknownSuite
)


def register_suite(cls: type[Suite]) -> type[Suite]:
    """Class decorator: add ``cls`` under its declared name; a second suite of that name is an error."""
    return SUITES.register(cls)


def suite_names() -> list[str]:
    """Every known suite name (built-in folders, registered, entry points); imports no suite."""
    return SUITES.names()


def suite_class(name: str) -> type[Suite]:
    return SUITES.get(name)


def available_suites() -> dict[str, type[Suite]]:
    """All suites by name, imported (built-ins and entry points), sorted."""
    return SUITES.load_all()


def build_suite(name: str, params: dict[str, Any]) -> Suite:
    cls = suite_class(name)
    return cls(cls.Config.from_params(params))


def suite_declaration(name: str) -> SuiteDeclaration | None:
    """A stored suite name's declaration: a built-in's without importing it, else the registered
    or entry-point suite's; None for names no suite answers to (old runs, diagnostics)."""
    builtin = builtin_declarations().get(name)
    if builtin is not None:
        return builtin
    if name not in SUITES.names():
        return None
    return suite_class(name).declaration
