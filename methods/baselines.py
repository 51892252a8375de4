"""Two data-free baselines that any block-importance criterion must beat.

``reverse-order`` removes the n blocks just before the last one, L-1-n .. L-2 (the baseline of
"Reassessing Layer Pruning in LLMs", arXiv 2411.15558, which finds it strong). ``random``
removes n blocks drawn with its seed from blocks 1 .. L-2 (never the first or the last); runs
with several seeds are shown on the leaderboard as one row with mean and spread.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from methods.base import ApplyContext, LayerSkipConfig, Method, MethodOutcome
from methods.layers import decoder_layers, remove_with_details
from methods.registry import register_method
from skipbench.errors import InvalidInput


def reverse_order_layers(total: int, n: int) -> list[int]:
    """L-1-n .. L-2 in ascending order (the last block is kept)."""
    return list(range(total - 1 - n, total - 1)) if n else []


def check_inner_room(name: str, total: int, n: int) -> None:
    """Both baselines keep the last block (``random`` also the first): n must fit inside."""
    kept = "the first and the last" if name == "random" else "the last"
    room = total - 2 if name == "random" else total - 1
    if n > room:
        raise InvalidInput(
            f"{name}: num_layers={n} is more than the {max(room, 0)} blocks it may remove "
            f"from a {total}-layer model (it keeps {kept} block)"
        )


@dataclass(frozen=True)
class ReverseOrderConfig(LayerSkipConfig):
    """sparsity / num_layers only: the choice needs no data."""


@register_method
class ReverseOrder(Method[ReverseOrderConfig]):
    name = "reverse-order"
    description = "Baseline: remove the n blocks just before the last one (L-1-n .. L-2)."

    def validate_for(self, num_layers: int) -> None:
        check_inner_room(self.name, num_layers, self.config.layers_to_skip(num_layers))

    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        total = len(decoder_layers(model))
        self.validate_for(total)
        removed = reverse_order_layers(total, self.config.layers_to_skip(total))
        details = remove_with_details(model, removed, self.config.requested_sparsity(total))
        return MethodOutcome(model=model, details=details)


def random_layers(total: int, n: int, seed: int) -> list[int]:
    """n distinct blocks of 1 .. L-2 in the order ``random.Random(seed)`` draws them.

    Python's Mersenne Twister and ``sample`` are stable across platforms and versions, so a
    seed names the same blocks everywhere.
    """
    return random.Random(seed).sample(range(1, total - 1), n) if n else []


@dataclass(frozen=True)
class RandomConfig(LayerSkipConfig):
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InvalidInput(f"seed={self.seed!r} must be an integer >= 0")


@register_method
class RandomBlocks(Method[RandomConfig]):
    name = "random"
    description = (
        "Baseline: remove n blocks drawn with the seed, never the first or the last; "
        "seeds are pooled into one leaderboard row (mean and spread)."
    )

    def validate_for(self, num_layers: int) -> None:
        check_inner_room(self.name, num_layers, self.config.layers_to_skip(num_layers))

    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        total = len(decoder_layers(model))
        self.validate_for(total)
        removed = random_layers(total, self.config.layers_to_skip(total), self.config.seed)
        details = remove_with_details(
            model,
            removed,
            self.config.requested_sparsity(total),
            extra={"seed": self.config.seed, "protected_layers": [0, total - 1]},
        )
        return MethodOutcome(model=model, details=details)
