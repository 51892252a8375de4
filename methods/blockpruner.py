"""BlockPruner (Zhong et al., ACL 2025 Findings): iterative removal of attention / MLP blocks.

Every decoder layer is two residual blocks, ``attn.i`` and ``mlp.i`` (methods/sublayers.py).
Each round removes on trial every remaining block of the allowed kinds (``block_type=mix``:
both), measures the calibration perplexity of the model without it (blocks removed in earlier
rounds stay removed), and removes for good the one with the lowest; n rounds. No block is
exempt (the official search has no bounds). Ties go to the first candidate in the official
order: attention blocks by layer, then MLP blocks by layer.

The search is SLEB's state-carrying round (``methods.sleb.carried_round``): both trials of a
layer start from the state entering that layer, computed once per round and carried forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any

from methods.base import (
    ApplyContext,
    CalibratedConfig,
    CalibrationSpec,
    LayerSkipConfig,
    Method,
    MethodOutcome,
    ProgressFn,
)
from methods.layers import decoder_layers
from methods.registry import register_method
from methods.search_log import RoundLog, next_round, search_details
from methods.sleb import (
    calibration_batches,
    carried_round,
    progress_ticker,
    ticks,
    unit_calibration_spec,
)
from methods.sublayers import (
    KINDS,
    CountsSublayerUnits,
    drop_sublayers,
    layer_without,
    sublayer_name,
)
from skipbench.errors import InvalidInput

BLOCK_TYPES = {"mix": KINDS, "attn": ("attn",), "mlp": ("mlp",)}


@dataclass(frozen=True)
class BlockPrunerConfig(CalibratedConfig, LayerSkipConfig):
    """``sparsity`` / ``num_layers`` count blocks of ``block_type`` (mix: all 2L blocks)."""

    calib_samples: int = 64  # the official --cal-nsamples of README.md
    block_type: str = "mix"
    calib_unit: str = "rows"  # the official loader: rows joined, tokenized once, cut into windows

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.block_type not in BLOCK_TYPES:
            raise InvalidInput(
                f"block_type={self.block_type!r} is not allowed; allowed: {', '.join(BLOCK_TYPES)}"
            )

    def calibration_spec(self) -> CalibrationSpec:
        return unit_calibration_spec(self)

    def units(self, num_layers: int) -> int:
        return len(BLOCK_TYPES[self.block_type]) * num_layers

    def to_drop(self, num_layers: int) -> int:
        """n = ceil(sparsity x units) unless ``num_layers`` is given; always < units."""
        return self.count_to_skip(self.units(num_layers), f"{self.block_type} blocks")


def block_search(
    model: Any,
    calibration: Any,
    n: int,
    kinds: tuple[str, ...] = KINDS,
    *,
    batch_size: int = 1,
    progress: ProgressFn | None = None,
    log: RoundLog | None = None,
) -> tuple[list[str], list[float], int]:
    """(removed blocks in removal order, calibration mean NLL after each round, rounds replayed
    from ``log``). New rounds are appended to ``log``.

    The model is restored before returning (also on errors).
    """
    import torch

    layers = decoder_layers(model)
    total = len(layers)
    originals = list(layers)
    device = next(model.parameters()).device
    batches = calibration_batches(calibration, batch_size, device)
    rank = {
        sublayer_name(k, i): r
        for r, (k, i) in enumerate((k, i) for k in kinds for i in range(total))
    }
    dropped: dict[int, set[str]] = {i: set() for i in range(total)}
    order: list[str] = []
    losses: list[float] = []
    reused = 0
    units = sum(len(rank) - r for r in range(n)) * len(batches)
    tick = progress_ticker(progress, "blockpruner: search", units)
    try:
        with torch.inference_mode():
            for _ in range(n):
                trials = [
                    (sublayer_name(k, i), i, layer_without(i, originals[i], dropped[i] | {k}))
                    for i in range(total)
                    for k in KINDS
                    if k in kinds and k not in dropped[i]
                ]

                def compute(trials: list = trials) -> tuple[str, float]:
                    round_losses = carried_round(model, layers, trials, batches, tick)
                    loss, _, chosen = min((v, rank[key], key) for key, v in round_losses.items())
                    return chosen, loss

                chosen, loss, replayed = next_round(
                    log,
                    list(zip(order, losses)),
                    [t[0] for t in trials],
                    reused == len(order),
                    compute,
                    skip=partial(ticks, tick, len(trials) * len(batches)),
                )
                reused += replayed
                kind, idx = chosen.split(".")
                dropped[int(idx)].add(kind)
                layers[int(idx)] = layer_without(int(idx), originals[int(idx)], dropped[int(idx)])
                order.append(chosen)
                losses.append(loss)
                if log is not None:
                    log.save(list(zip(order, losses)))
    finally:
        for i, layer in enumerate(originals):
            layers[i] = layer
    return order, losses, reused


@register_method
class BlockPruner(CountsSublayerUnits, Method[BlockPrunerConfig]):
    name = "blockpruner"
    description = (
        "Iteratively remove the attention or MLP block whose removal gives the lowest "
        "calibration perplexity."
    )

    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        config = self.config
        total, n = self.units_to_drop(model)
        if n > 0 and ctx.calibration is None:
            raise InvalidInput("blockpruner needs calibration data")
        order: list[str] = []
        losses: list[float] = []
        reused = 0
        kinds = BLOCK_TYPES[config.block_type]
        log = ctx.round_log("blockpruner", {"kinds": list(kinds)}) if n > 0 else None
        if n > 0:
            order, losses, reused = block_search(
                model, ctx.calibration, n, kinds, progress=ctx.report, log=log
            )
        units = config.units(total)
        nominal = config.sparsity if config.num_layers is None else n / units
        details = drop_sublayers(
            model,
            order,
            nominal,
            n / units,
            per_removal={
                "calibration_loss": [round(v, 6) for v in losses],
                "calibration_ppl": [round(math.exp(v), 4) for v in losses],
            },
            extra={"block_type": config.block_type, **search_details(log, reused, n)},
        )
        return MethodOutcome(model=model, details=details)
