"""every-kth: drop decoder layers k-1, 2k-1, 3k-1, ... (a worked example, not a good method).

It needs no calibration data, so ``calibration_spec`` keeps the base class's ``None``.
The last layer is kept unless ``keep_last=false``: dropping the layer that feeds the final
norm is usually the most harmful choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from methods.base import ApplyContext, Method, MethodConfig, MethodOutcome
from methods.layers import decoder_layers, remove_with_details
from skipbench.errors import InvalidInput


@dataclass(frozen=True)
class EveryKthConfig(MethodConfig):
    k: int = 4
    keep_last: bool = True

    def __post_init__(self) -> None:
        if self.k < 2:
            raise InvalidInput(f"k={self.k} must be >= 2 (k=1 would drop every layer)")


def layers_to_drop(total: int, k: int, keep_last: bool) -> list[int]:
    """Indices k-1, 2k-1, ... below ``total``; the last layer only if ``keep_last`` is false."""
    drop = list(range(k - 1, total, k))
    if keep_last and drop and drop[-1] == total - 1:
        drop.pop()
    return drop


class EveryKth(Method[EveryKthConfig]):
    name = "every-kth"
    description = "Drop every k-th decoder layer (layers k-1, 2k-1, ...); an example plug-in."

    def nominal_sparsity(self) -> float:
        return 1.0 / self.config.k

    def validate_for(self, num_layers: int) -> None:
        if not layers_to_drop(num_layers, self.config.k, self.config.keep_last):
            raise InvalidInput(f"k={self.config.k} drops no layer of a {num_layers}-layer model")

    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        config = self.config
        total = len(decoder_layers(model))
        drop = layers_to_drop(total, config.k, config.keep_last)
        ctx.report("every-kth: removing layers", 0.0)
        # the one sanctioned way to remove layers (keeps layer_idx and the config consistent),
        # and the details every removal method reports
        details = remove_with_details(model, drop, 1.0 / config.k)
        ctx.report("every-kth: removing layers", 1.0)
        return MethodOutcome(model=model, details=details)
