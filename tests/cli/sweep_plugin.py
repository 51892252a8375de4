"""Test-only method for sweep tests, loaded through SKIPBENCH_PLUGINS=tests.cli.sweep_plugin.

``test_fail_once``: the first apply for a given ``marker`` file creates it and raises (after the
run row exists, so the run is stored ``failed``); every later apply leaves the model as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from methods.base import ApplyContext, Method, MethodConfig, MethodOutcome
from methods.registry import register_method


@dataclass(frozen=True)
class FailOnceConfig(MethodConfig):
    marker: str = ""


@register_method
class FailOnce(Method):
    name = "test_fail_once"
    description = "test only: fails on its first apply per marker file, then acts as dense"
    Config = FailOnceConfig

    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        assert isinstance(self.config, FailOnceConfig)
        marker = Path(self.config.marker)
        if not marker.exists():
            marker.write_text("failed once\n")
            raise RuntimeError("planned failure of the first attempt")
        return MethodOutcome(model=model, details={"sparsity": {"nominal": 0.0, "realized": 0.0}})
