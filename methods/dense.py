"""dense: the unmodified model, the baseline every other method is compared with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from methods.base import ApplyContext, Method, MethodConfig, MethodOutcome
from methods.registry import register_method


@dataclass(frozen=True)
class DenseConfig(MethodConfig):
    """No parameters."""


@register_method
class Dense(Method[DenseConfig]):
    name = "dense"
    description = "The unmodified model (baseline)."

    def nominal_sparsity(self) -> float:
        return 0.0

    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        return MethodOutcome(model=model, details={"sparsity": {"nominal": 0.0, "realized": 0.0}})
