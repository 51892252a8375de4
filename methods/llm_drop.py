"""LLM-Drop (He et al., 2024, "What Matters in Transformers? Not All Attention is Needed").

Importance of a sublayer = mean over calibration tokens of cos(X, X + F(X)), X the residual
stream entering it (its input norm is inside F: the official ``layer_drop_norm=True``); a block
(``target=block``) compares the decoder layer's input with its output. All scores come from the
dense model in one pass; the n most similar (most redundant) are dropped in one shot
(``joint``: attention and MLP sublayers ranked together). Ties: attention before MLP, then the
lower layer index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from methods.base import ApplyContext, CalibratedConfig, LayerSkipConfig, Method, MethodOutcome
from methods.layers import decoder_layers, input_recorder, layer_output
from methods.registry import register_method
from methods.shortgpt import block_influence, forward_windows
from methods.sublayers import (
    KINDS,
    CountsSublayerUnits,
    drop_sublayers,
    mlp_input_module,
    sublayer_name,
)
from skipbench.errors import InvalidInput

TARGETS = ("attn", "mlp", "block", "joint")


@dataclass(frozen=True)
class LLMDropConfig(CalibratedConfig, LayerSkipConfig):
    """``sparsity`` / ``num_layers`` count units of ``target``: attention sublayers, MLP
    sublayers, decoder layers, or (``joint``) all 2L sublayers."""

    reads_window_lists: ClassVar[bool] = True  # calib_dataset=pg19 (ShortGPT's per-book windows)
    target: str = "attn"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.target not in TARGETS:
            raise InvalidInput(
                f"target={self.target!r} is not allowed; allowed: {', '.join(TARGETS)}"
            )

    def units(self, num_layers: int) -> int:
        return 2 * num_layers if self.target == "joint" else num_layers

    def to_drop(self, num_layers: int) -> int:
        """n = ceil(sparsity x units) unless ``num_layers`` is given; always < units."""
        return self.count_to_skip(self.units(num_layers), f"{self.target} units")

    def requested(self, num_layers: int) -> float:
        total = self.units(num_layers)
        return self.sparsity if self.num_layers is None else self.to_drop(num_layers) / total


def sublayer_similarities(
    model: Any, calibration: Any, ctx: ApplyContext | None = None
) -> dict[str, list[float]]:
    """Mean cos(in, out) per layer for ``attn``, ``mlp`` and ``block`` on the dense model.

    One forward per calibration window; hooks read the state entering each layer (X), the
    state entering its MLP sublayer (X + attn) and the layer's output. Token-weighted means.
    """
    layers = decoder_layers(model)
    total = len(layers)
    sums = {k: [0.0] * total for k in ("attn", "mlp", "block")}
    counts = [0] * total
    entering: dict[int, Any] = {}
    middle: dict[int, Any] = {}

    def on_mlp_input(i: int):
        def hook(module: Any, args: tuple) -> None:
            middle[i] = args[0]

        return hook

    def on_layer_output(i: int):
        def hook(module: Any, args: tuple, kwargs: dict, output: Any) -> None:
            out = layer_output(output)
            x, mid = entering.pop(i), middle.pop(i)
            for key, (a, b) in (("attn", (x, mid)), ("mlp", (mid, out)), ("block", (x, out))):
                s, c = block_influence(a, b)
                sums[key][i] += s
            counts[i] += c

        return hook

    handles = []
    for i, layer in enumerate(layers):
        handles.append(
            layer.register_forward_pre_hook(input_recorder(entering, i), with_kwargs=True)
        )
        handles.append(mlp_input_module(layer).register_forward_pre_hook(on_mlp_input(i)))
        handles.append(layer.register_forward_hook(on_layer_output(i), with_kwargs=True))
    forward_windows(model, calibration, handles, ctx, "llm-drop: similarities")
    return {k: [s / c for s, c in zip(v, counts)] for k, v in sums.items()}


def drop_order(similarities: dict[str, list[float]], target: str, n: int) -> list[str]:
    """The n most similar units, most similar first (names ``attn.i`` / ``mlp.i``)."""
    if target == "joint":
        pool = [
            (-similarities[k][i], r, i, k)
            for r, k in enumerate(KINDS)
            for i in range(len(similarities[k]))
        ]
        return [sublayer_name(k, i) for _, _, i, k in sorted(pool)[:n]]
    key = "block" if target == "block" else target
    ranked = sorted(range(len(similarities[key])), key=lambda i: (-similarities[key][i], i))[:n]
    if target == "block":
        return [sublayer_name(k, i) for i in ranked for k in KINDS]
    return [sublayer_name(target, i) for i in ranked]


@register_method
class LLMDrop(CountsSublayerUnits, Method[LLMDropConfig]):
    name = "llm-drop"
    description = (
        "Drop the attention / MLP sublayers (or blocks) whose output is most similar to their "
        "input, cos(X, X + F(X)), in one shot; dropped attention keeps no KV cache."
    )

    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        config = self.config
        total, n = self.units_to_drop(model)
        if ctx.calibration is None:
            raise InvalidInput("llm-drop needs calibration data")
        sims = sublayer_similarities(model, ctx.calibration, ctx)
        order = drop_order(sims, config.target, n)
        extra: dict[str, Any] = {"target": config.target}
        if config.target == "block":
            extra["removed_layers"] = [int(name.split(".")[1]) for name in order[::2]]
        extra["similarity"] = {k: [round(v, 6) for v in sims[k]] for k in ("attn", "mlp", "block")}
        details = drop_sublayers(
            model, order, config.requested(total), n / config.units(total), extra=extra
        )
        return MethodOutcome(model=model, details=details)
