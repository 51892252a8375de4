"""Angular distance (Gromov et al., "The Unreasonable Ineffectiveness of the Deeper Layers",
arXiv 2403.17887): remove the n *contiguous* blocks whose input and output point most alike.

For every start l in 0 .. L-n, d(l, n) = mean over calibration samples of
arccos(cos(h_l, h_{l+n})) / pi, with h_l the residual state entering block l (h_L: the last
block's output, before the final norm) taken at each sample's last token; ``position=all``
averages over every token instead. Blocks l* .. l*+n-1 with l* = argmin d are removed (ties:
the lower l). The paper then heals the model by fine-tuning; that step is out of scope here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from methods.base import ApplyContext, CalibratedConfig, LayerSkipConfig, Method, MethodOutcome
from methods.layers import (
    decoder_layers,
    hooks_only_forward,
    layer_input,
    layer_output,
    remove_with_details,
)
from methods.registry import register_method
from skipbench.errors import InvalidInput

POSITIONS = ("last", "all")


@dataclass(frozen=True)
class AngularConfig(CalibratedConfig, LayerSkipConfig):
    position: str = "last"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.position not in POSITIONS:
            raise InvalidInput(f"position={self.position!r}; allowed: {', '.join(POSITIONS)}")


def angular_distances(
    model: Any, calibration: Any, n: int, position: str = "last", ctx: ApplyContext | None = None
) -> list[float]:
    """d(l, n) for l = 0 .. L-n over the calibration ids ``[N, T]`` (one sample at a time).

    Only the last n+1 states are held: when h_k arrives, its distance to h_{k-n} is added to
    start k-n's sum and h_{k-n} is dropped, so memory does not grow with depth.
    """
    import torch

    layers = decoder_layers(model)
    total = len(layers)
    if not 1 <= n <= total:
        raise InvalidInput(f"angular: n={n} must be in 1..{total}")
    sums = [0.0] * (total - n + 1)
    counts = [0] * (total - n + 1)
    window: dict[int, Any] = {}

    def keep(k: int, state: Any) -> None:
        state = state[:, -1:] if position == "last" else state
        window[k] = state.reshape(-1, state.shape[-1]).float()
        if k >= n:
            cos = torch.nn.functional.cosine_similarity(window.pop(k - n), window[k], dim=-1)
            angle = torch.arccos(cos.clamp(-1.0, 1.0)) / math.pi
            sums[k - n] += float(angle.double().sum())
            counts[k - n] += int(angle.numel())

    def pre_hook(k: int):
        def hook(module: Any, args: tuple, kwargs: dict) -> None:
            keep(k, layer_input(args, kwargs))

        return hook

    def last_hook(module: Any, args: tuple, kwargs: dict, output: Any) -> None:
        keep(total, layer_output(output))

    handles = [
        layer.register_forward_pre_hook(pre_hook(k), with_kwargs=True)
        for k, layer in enumerate(layers)
    ]
    handles.append(layers[-1].register_forward_hook(last_hook, with_kwargs=True))
    device = next(model.parameters()).device
    try:
        with torch.inference_mode():
            for s in range(len(calibration)):
                window.clear()
                hooks_only_forward(model, calibration[s : s + 1].to(device))
                if ctx:
                    ctx.report("angular: distances", (s + 1) / len(calibration))
    finally:
        for h in handles:
            h.remove()
    return [v / c for v, c in zip(sums, counts)]


@register_method
class Angular(Method[AngularConfig]):
    name = "angular"
    description = (
        "Remove the n contiguous blocks l*..l*+n-1 whose input and output have the smallest "
        "angular distance (Gromov et al.; last token by default; no healing)."
    )

    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        config = self.config
        total = len(decoder_layers(model))
        n = config.layers_to_skip(total)
        distances: list[float] = []
        removed: list[int] = []
        if n > 0:
            if ctx.calibration is None:
                raise InvalidInput("angular needs calibration data")
            distances = angular_distances(model, ctx.calibration, n, config.position, ctx)
            start = min(range(len(distances)), key=lambda s: (distances[s], s))
            removed = list(range(start, start + n))
        details = remove_with_details(
            model,
            removed,
            config.requested_sparsity(total),
            extra={
                "position": config.position,
                "window": {"start": removed[0], "end": removed[-1]} if removed else None,
                "distances": [round(v, 6) for v in distances],
            },
        )
        return MethodOutcome(model=model, details=details)
