"""Shortened LLaMA (Kim et al., "Shortened LLaMA: Depth Pruning for LLMs", 2024): one-shot
removal of the n blocks with the lowest importance under one of three criteria.

``criterion=ppl`` (calibration perplexity without the block), ``taylor`` (|w * dL/dw| summed
over the block's weights) or ``magnitude`` (|w|^p summed); the scores are in
``methods.block_sensitivity``. ``protect=first4last2`` is the paper's "+" heuristic: blocks
0-3 and the last two are never removed. Official calibration: 10 BookCorpus samples of 128
tokens; offline we use 10 x 128 from the C4 calibration documents (recorded with the run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from methods.base import ApplyContext, CalibratedConfig, LayerSkipConfig, Method, MethodOutcome
from methods.block_sensitivity import magnitude_scores, ppl_scores, taylor_scores
from methods.layers import decoder_layers, remove_with_details
from methods.registry import register_method
from skipbench.errors import InvalidInput

CRITERIA = ("ppl", "taylor", "magnitude")
PROTECT = ("none", "first4last2")


def protected_layers(total: int, protect: str) -> list[int]:
    """The blocks never removed: none, or 0-3 and L-2, L-1 (the paper's "+" variants)."""
    if protect == "none":
        return []
    return sorted({0, 1, 2, 3, total - 2, total - 1} & set(range(total)))


@dataclass(frozen=True)
class ShortenedLlamaConfig(CalibratedConfig, LayerSkipConfig):
    calib_samples: int = 10
    calib_seq_len: int = 128
    criterion: str = "ppl"
    protect: str = "none"
    norm_power: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.criterion not in CRITERIA:
            raise InvalidInput(f"criterion={self.criterion!r}; allowed: {', '.join(CRITERIA)}")
        if self.protect not in PROTECT:
            raise InvalidInput(f"protect={self.protect!r}; allowed: {', '.join(PROTECT)}")
        if self.norm_power not in (1, 2):
            raise InvalidInput(f"norm_power={self.norm_power!r}; allowed: 1, 2")


@register_method
class ShortenedLlama(Method[ShortenedLlamaConfig]):
    name = "shortened-llama"
    description = (
        "Shortened LLaMA: remove the n blocks of lowest ppl / taylor / magnitude importance "
        "in one shot (protect=first4last2 for the paper's '+' variants)."
    )

    def calibration_spec(self):  # noqa: ANN201 - the base's type
        """``magnitude`` reads no data."""
        return None if self.config.criterion == "magnitude" else super().calibration_spec()

    def validate_for(self, num_layers: int) -> None:
        n = self.config.layers_to_skip(num_layers)
        room = num_layers - len(protected_layers(num_layers, self.config.protect))
        if n > room:
            raise InvalidInput(
                f"shortened-llama: num_layers={n} is more than the {room} blocks of a "
                f"{num_layers}-layer model that protect={self.config.protect} leaves removable"
            )

    def scores(self, model: Any, ctx: ApplyContext) -> list[float]:
        config = self.config
        if config.criterion == "magnitude":
            return magnitude_scores(model, config.norm_power)
        if ctx.calibration is None:
            raise InvalidInput(
                f"shortened-llama criterion={config.criterion} needs calibration data"
            )
        if config.criterion == "ppl":
            return ppl_scores(model, ctx.calibration, ctx)
        return taylor_scores(model, ctx.calibration, config.norm_power, ctx)

    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        config = self.config
        total = len(decoder_layers(model))
        self.validate_for(total)
        n = config.layers_to_skip(total)
        keep = protected_layers(total, config.protect)
        scores = self.scores(model, ctx) if n > 0 else []
        candidates = [i for i in range(total) if i not in keep]
        removed = sorted(candidates, key=lambda i: (scores[i], i))[:n] if n > 0 else []
        details = remove_with_details(
            model,
            removed,
            config.requested_sparsity(total),
            extra={
                "criterion": config.criterion,
                "protect": config.protect,
                "protected_layers": keep,
                "scores": [float(f"{v:.7g}") for v in scores],
            },
        )
        return MethodOutcome(model=model, details=details)
