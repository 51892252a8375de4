"""The suite contract and metric metadata.

A suite has a name, the tasks it knows, a frozen ``Config`` (``FrozenConfig``: built from CLI
options and ``--suite-set`` strings, validated in ``__post_init__``) and ``run()``, which
evaluates an already-modified model and returns ``SuiteOutcome``. Every metric a suite emits is
declared as a ``MetricSpec`` with its direction, unit and display name.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from skipbench.config import FrozenConfig
from skipbench.errors import InvalidInput

ProgressFn = Callable[[str, float], None]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    display_name: str
    higher_is_better: bool
    unit: str = ""
    description: str = ""


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


@dataclass
class SuiteContext:
    progress: ProgressFn | None = None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    # the unmodified model, sharing the method's weights, for suites that compare in-process
    baseline: Any = None

    def report(self, what: str, fraction: float) -> None:
        if self.progress is not None:
            self.progress(what, fraction)


class Suite(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]]
    default_tasks: ClassVar[tuple[str, ...]]
    metrics: ClassVar[tuple[MetricSpec, ...]]
    Config: ClassVar[type[SuiteConfig]] = SuiteConfig
    needs_real_weights: ClassVar[bool] = True

    def wants_baseline(self) -> bool:
        """True when the suite should also get the unmodified model (``SuiteContext.baseline``)."""
        return False

    def __init__(self, config: SuiteConfig) -> None:
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
        for spec in cls.metrics:
            if spec.name == name:
                return spec
        raise KeyError(f"suite {cls.name} declares no metric {name!r}")

    @abstractmethod
    def run(self, lm: Any, ctx: SuiteContext) -> SuiteOutcome:
        """Evaluate ``lm`` (a ``harness.models.LoadedModel`` whose model is already modified)."""


# name -> "module:Class"; modules are imported only when their suite is used
SUITES: dict[str, str] = {
    "perplexity": "harness.suites.perplexity:PerplexitySuite",
    "zeroshot": "harness.suites.zeroshot:ZeroShotSuite",
    "longbench": "harness.suites.longbench:LongBenchSuite",
    "throughput": "harness.suites.throughput:ThroughputSuite",
}


def suite_class(name: str) -> type[Suite]:
    target = SUITES.get(name)
    if target is None:
        raise InvalidInput(f"unknown suite {name!r}; allowed: {', '.join(SUITES)}")
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise InvalidInput(f"suite {name!r} is not available in this build") from None
        raise
    return getattr(module, cls_name)


def build_suite(name: str, params: dict[str, Any]) -> Suite:
    cls = suite_class(name)
    return cls(cls.Config.from_params(params))
