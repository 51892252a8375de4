"""Test-only method and suites, imported by test workers through SKIPBENCH_PLUGINS.

- ``test_oom``: a method whose apply raises the out-of-memory error torch raises on a GPU;
- ``test_exit``: a method whose apply raises SystemExit or KeyboardInterrupt, or ends its
  process with ``os._exit`` (after appending a line to ``marker``, so a test counts
  executions); once the file ``spare`` exists it leaves the model as it is;
- ``sleepy`` / ``nap``: suites that append a line to ``marker`` each time they start (so a test
  counts executions), then wait until ``release`` exists or ``seconds`` pass, reporting progress.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.suites.base import (
    MetricSpec,
    MetricValue,
    Suite,
    SuiteConfig,
    SuiteContext,
    SuiteDeclaration,
    SuiteOutcome,
    TaskSpec,
    register_suite,
)
from methods.base import ApplyContext, Method, MethodConfig, MethodOutcome
from methods.registry import register_method
from skipbench.errors import InvalidInput


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
class ExitConfig(MethodConfig):
    kind: str = "system_exit"  # or keyboard_interrupt, os_exit
    marker: str = ""
    spare: str = ""  # once this file exists, apply does nothing

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind not in ("system_exit", "keyboard_interrupt", "os_exit"):
            raise InvalidInput(
                f"kind {self.kind!r}; allowed: system_exit, keyboard_interrupt, os_exit"
            )


@register_method
class ExitMethod(Method):
    name = "test_exit"
    description = "test only: raises SystemExit(3) or KeyboardInterrupt, or calls os._exit(3)"
    Config = ExitConfig

    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        assert isinstance(self.config, ExitConfig)
        if self.config.marker:
            with open(self.config.marker, "a") as fh:
                fh.write(f"{os.getpid()}\n")
        if self.config.spare and Path(self.config.spare).exists():
            return MethodOutcome(model=model, details={})
        if self.config.kind == "keyboard_interrupt":
            raise KeyboardInterrupt
        if self.config.kind == "os_exit":
            os._exit(3)  # no handler, no finally: the process is simply gone
        raise SystemExit(3)


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
    report: bool = (
        True  # False: a stuck job that never reports progress (only the hard limit ends it)
    )


@register_suite
class SleepySuite(Suite[SleepyConfig]):
    declaration = SuiteDeclaration(
        name="sleepy",
        display_name="Sleepy",
        description="test only: waits, reporting progress",
        tasks=(TaskSpec("wait"),),
        metrics=(MetricSpec("waited", "Waited", higher_is_better=False, unit="s"),),
    )

    def run(self, lm: Any, ctx: SuiteContext) -> SuiteOutcome:
        config = self.config
        if config.marker:
            with open(config.marker, "a") as fh:
                fh.write(f"{os.getpid()}\n")
        start = time.monotonic()
        self._wait(config, ctx, start)
        return SuiteOutcome(
            results=[MetricValue("wait", "waited", round(time.monotonic() - start, 3))]
        )

    def _wait(self, config: SleepyConfig, ctx: SuiteContext, start: float) -> None:
        while time.monotonic() - start < config.seconds:
            if config.release and Path(config.release).exists():
                return
            if config.report:
                with contextlib.suppress(Exception):  # a careless suite: swallows what it can
                    ctx.report(f"{self.name}/wait", (time.monotonic() - start) / config.seconds)
            time.sleep(0.1)


@register_suite
class NapSuite(SleepySuite):
    declaration = replace(SleepySuite.declaration, name="nap", display_name="Nap")
