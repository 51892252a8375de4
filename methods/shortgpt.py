"""ShortGPT (Men et al., 2024): remove the layers with the lowest Block Influence.

BI_i = 1 - mean over calibration tokens of cos(x_i, x_{i+1}), where x_i enters layer i and
x_{i+1} leaves it. The n = ceil(sparsity x L) layers with the lowest BI are removed in one shot
(ties broken by lower index first). Cosines are accumulated token by token (a sum and a count
per layer), never as an N x N similarity matrix.

``calib_dataset=pg19`` is the official code's protocol (``run_shortgpt.py``): per-book windows
of ``calib_seq_len`` tokens (stride = length, short last windows kept), cos computed as
x.y / (|x| |y|) with NaN counted as 0.5, BI summed over tokens (``block_influence_sum``; its
ranking is the mean's). The last layer's output is still its own output, not the final-normed
state the official code reads (docs/fidelity.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from methods.base import ApplyContext, CalibratedConfig, LayerSkipConfig, Method, MethodOutcome
from methods.layers import (
    decoder_layers,
    hooks_only_forward,
    input_recorder,
    layer_output,
    remove_with_details,
)
from methods.registry import register_method
from skipbench.errors import InvalidInput


@dataclass(frozen=True)
class ShortGPTConfig(CalibratedConfig, LayerSkipConfig):
    """sparsity / num_layers, then the calibration fields (in that order in the stored dict)."""

    reads_window_lists: ClassVar[bool] = True  # calib_dataset=pg19, the official protocol


def block_influence(x_in: Any, x_out: Any, nan_as: float | None = None) -> tuple[float, int]:
    """(sum over tokens of cos(x_in, x_out), token count) for ``[..., hidden]`` tensors.

    Returned as a sum so callers can average across batches exactly. ``nan_as`` given: the
    official ShortGPT cosine, x.y / (|x| |y|) with NaN (a zero vector) replaced by it.
    """
    import torch

    a = x_in.reshape(-1, x_in.shape[-1]).float()
    b = x_out.reshape(-1, x_out.shape[-1]).float()
    if nan_as is None:
        cos = torch.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-8)
    else:
        cos = ((a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))).nan_to_num(nan=nan_as)
    return float(cos.sum()), int(cos.numel())


def calibration_windows(calibration: Any) -> list:
    """``[1, t]`` windows: the rows of an ``[N, T]`` tensor, or a list of windows as is."""
    if isinstance(calibration, (list, tuple)):
        return [w if w.dim() == 2 else w.unsqueeze(0) for w in calibration]
    return [calibration[i : i + 1] for i in range(len(calibration))]


def compute_block_influence(
    model: Any, calibration: Any, ctx: ApplyContext | None = None, nan_as: float | None = None
) -> list[float]:
    """BI for every decoder layer of ``model`` over the calibration windows (``[N, T]`` or a list)."""
    return [1.0 - s / c for s, c in cosine_sums(model, calibration, ctx, nan_as)]


def cosine_sums(
    model: Any, calibration: Any, ctx: ApplyContext | None = None, nan_as: float | None = None
) -> list[tuple[float, int]]:
    """Per layer: (sum over tokens of cos(x_in, x_out), token count)."""
    layers = decoder_layers(model)
    sums = [0.0] * len(layers)
    counts = [0] * len(layers)
    inputs: dict[int, Any] = {}

    def post_hook(idx: int):
        def hook(module: Any, args: tuple, kwargs: dict, output: Any) -> None:
            s, c = block_influence(inputs.pop(idx), layer_output(output), nan_as)
            sums[idx] += s
            counts[idx] += c

        return hook

    handles = []
    for i, layer in enumerate(layers):
        handles.append(layer.register_forward_pre_hook(input_recorder(inputs, i), with_kwargs=True))
        handles.append(layer.register_forward_hook(post_hook(i), with_kwargs=True))
    forward_windows(model, calibration, handles, ctx, "shortgpt: block influence")
    return list(zip(sums, counts))


def forward_windows(
    model: Any, calibration: Any, handles: list, ctx: ApplyContext | None, what: str
) -> None:
    """One forward per calibration window (one sample at a time), reporting ``what``; the
    hook ``handles`` that collect the statistics are removed afterwards (also on errors)."""
    import torch

    device = next(model.parameters()).device
    windows = calibration_windows(calibration)
    try:
        with torch.inference_mode():
            for start, ids in enumerate(windows):
                hooks_only_forward(model, ids.to(device))
                if ctx:
                    ctx.report(what, (start + 1) / len(windows))
    finally:
        for h in handles:
            h.remove()


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
        official = config.calib_dataset == "pg19"
        sums = cosine_sums(model, ctx.calibration, ctx, nan_as=0.5 if official else None)
        bi = [1.0 - s / c for s, c in sums]
        order = sorted(range(total), key=lambda i: (bi[i], i))[:n]
        extra: dict[str, Any] = {"block_influence": [round(v, 6) for v in bi]}
        if official:
            extra["block_influence_sum"] = [round(c - s, 3) for s, c in sums]
            extra["protocol"] = "official pg19: per-book windows, NaN cos = 0.5, BI summed"
        details = remove_with_details(model, order, config.requested_sparsity(total), extra=extra)
        return MethodOutcome(model=model, details=details)
