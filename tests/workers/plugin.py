"""Test-only method and suites, imported by test workers through SKIPBENCH_PLUGINS.

- ``test_oom``: a method whose apply raises the out-of-memory error torch raises on a GPU;
- ``sleepy`` / ``nap``: suites that append a line to ``marker`` each time they start (so a test
  counts executions), then wait until ``release`` exists or ``seconds`` pass, reporting progress.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.suites.base import (
    SUITES,
    MetricSpec,
    MetricValue,
    Suite,
    SuiteConfig,
    SuiteContext,
    SuiteOutcome,
)
from methods.base import ApplyContext, Method, MethodConfig, MethodOutcome
from methods.registry import register_method


@dataclass(frozen=True)
class OomConfig(MethodConfig):
    """No parameters."""


@register_method
class OomMethod(Method):
    name = "test_oom"
    description = "test only: raises CUDA out-of-memory inside apply"
    Config = OomConfig

    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        import torch

        raise torch.cuda.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79.11 GiB total capacity)"
        )


@dataclass(frozen=True)
class AllocConfig(MethodConfig):
    gib: float = 1.0


@register_method
class AllocMethod(Method):
    """On a GPU, a large ``gib`` provokes a real out-of-memory error inside apply."""

    name = "test_alloc"
    description = "test only: allocates gib GiB on the model's device"
    Config = AllocConfig

    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        import torch

        assert isinstance(self.config, AllocConfig)
        device = next(model.parameters()).device
        block = torch.empty(int(self.config.gib * 2**30), dtype=torch.uint8, device=device)
        return MethodOutcome(model=model, details={"allocated_bytes": block.numel()})


@dataclass(frozen=True)
class SleepyConfig(SuiteConfig):
    seconds: float = 1.0
    release: str = ""
    marker: str = ""
    ignore_soft_limit: bool = False  # a stuck job: only the hard time limit ends it


class SleepySuite(Suite):
    name = "sleepy"
    description = "test only: waits, reporting progress"
    tasks = ("wait",)
    default_tasks = ("wait",)
    metrics = (MetricSpec("waited", "Waited", higher_is_better=False, unit="s"),)
    Config = SleepyConfig

    def run(self, lm: Any, ctx: SuiteContext) -> SuiteOutcome:
        config = self.config
        assert isinstance(config, SleepyConfig)
        if config.marker:
            with open(config.marker, "a") as fh:
                fh.write(f"{os.getpid()}\n")
        start = time.monotonic()
        while True:
            try:
                self._wait(config, ctx, start)
                break
            except Exception as exc:  # the soft time limit is raised wherever the job is
                if not (config.ignore_soft_limit and type(exc).__name__ == "SoftTimeLimitExceeded"):
                    raise
        return SuiteOutcome(
            results=[MetricValue("wait", "waited", round(time.monotonic() - start, 3))]
        )

    def _wait(self, config: SleepyConfig, ctx: SuiteContext, start: float) -> None:
        while time.monotonic() - start < config.seconds:
            if config.release and Path(config.release).exists():
                return
            ctx.report(f"{self.name}/wait", (time.monotonic() - start) / config.seconds)
            time.sleep(0.1)


class NapSuite(SleepySuite):
    name = "nap"


SUITES.setdefault("sleepy", "tests.workers.plugin:SleepySuite")
SUITES.setdefault("nap", "tests.workers.plugin:NapSuite")
