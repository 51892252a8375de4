"""ShortGPT (Men et al., 2024): remove the layers with the lowest Block Influence.

BI_i = 1 - mean over calibration tokens of cos(x_i, x_{i+1}), where x_i enters layer i and
x_{i+1} leaves it. The n = ceil(sparsity x L) layers with the lowest BI are removed in one shot
(ties broken by lower index first). Cosines are accumulated token by token (a sum and a count
per layer), never as an N x N similarity matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from methods.base import ApplyContext, CalibratedConfig, LayerSkipConfig, Method, MethodOutcome
from methods.layers import decoder_layers, remove_with_details
from methods.registry import register_method
from skipbench.errors import InvalidInput


@dataclass(frozen=True)
class ShortGPTConfig(CalibratedConfig, LayerSkipConfig):
    """sparsity / num_layers, then the calibration fields (in that order in the stored dict)."""


def block_influence(x_in: Any, x_out: Any) -> tuple[float, int]:
    """(sum over tokens of cos(x_in, x_out), token count) for ``[..., hidden]`` tensors.

    Returned as a sum so callers can average across batches exactly.
    """
    import torch

    a = x_in.reshape(-1, x_in.shape[-1]).float()
    b = x_out.reshape(-1, x_out.shape[-1]).float()
    cos = torch.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-8)
    return float(cos.sum()), int(cos.numel())


def compute_block_influence(
    model: Any, calibration: Any, ctx: ApplyContext | None = None
) -> list[float]:
    """BI for every decoder layer of ``model`` over the calibration ids ``[N, T]``."""
    import torch

    layers = decoder_layers(model)
    sums = [0.0] * len(layers)
    counts = [0] * len(layers)
    inputs: dict[int, Any] = {}

    def pre_hook(idx: int):
        def hook(module: Any, args: tuple, kwargs: dict) -> None:
            inputs[idx] = args[0] if args else kwargs["hidden_states"]

        return hook

    def post_hook(idx: int):
        def hook(module: Any, args: tuple, kwargs: dict, output: Any) -> None:
            out = output[0] if isinstance(output, tuple) else output
            s, c = block_influence(inputs.pop(idx), out)
            sums[idx] += s
            counts[idx] += c

        return hook

    handles = []
    for i, layer in enumerate(layers):
        handles.append(layer.register_forward_pre_hook(pre_hook(i), with_kwargs=True))
        handles.append(layer.register_forward_hook(post_hook(i), with_kwargs=True))
    device = next(model.parameters()).device
    try:
        with torch.inference_mode():
            for start in range(len(calibration)):  # one sample at a time
                model(input_ids=calibration[start : start + 1].to(device), use_cache=False)
                if ctx:
                    ctx.report("shortgpt: block influence", (start + 1) / len(calibration))
    finally:
        for h in handles:
            h.remove()
    return [1.0 - s / c for s, c in zip(sums, counts)]


@register_method
class ShortGPT(Method[ShortGPTConfig]):
    name = "shortgpt"
    description = (
        "Remove the layers with the lowest Block Influence (1 - mean cos(in, out)) in one shot."
    )

    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        config = self.config
        total = len(decoder_layers(model))
        n = config.layers_to_skip(total)
        if ctx.calibration is None:
            raise InvalidInput("shortgpt needs calibration data")
        bi = compute_block_influence(model, ctx.calibration, ctx)
        order = sorted(range(total), key=lambda i: (bi[i], i))[:n]
        details = remove_with_details(
            model,
            order,
            config.requested_sparsity(total),
            extra={"block_influence": [round(v, 6) for v in bi]},
        )
        return MethodOutcome(model=model, details=details)
