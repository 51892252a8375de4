"""Sink diagnostics: the two observations OrthoRank (Shin, Oh, Oh, ICML 2025) builds on.

For each decoder layer i, with h the hidden state entering the layer and n_i the layer's own
input RMSNorm (learned weight included), over every window's non-sink tokens t:

- ``mean_cos[i]``: mean of cos(n_i(h_t), n_i(h_sink)) -- does the text align with the sink?
- ``mean_abs_cos[i]``: the same with |cos| (OrthoRank's score s_t);
- ``sink_change[i]``: 1 - cos(n_i(h_sink), n_{i-1}(h_sink)), how much the sink's normalized
  state moves from one layer to the next (``None`` for layer 0);
- ``sink_change_raw[i]``: 1 - cos of the raw residual-stream states (free of the norm weights);
- ``sink_rms[i]`` / ``token_rms[i]``: root-mean-square of the raw states (the sink's massive
  activation shows up as a large ratio).

The sink is each window's first token. Sums are accumulated per layer, so the means are exact
over all windows and tokens.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from methods.layers import decoder_layers
from skipbench.errors import InvalidInput

ARTIFACT_VERSION = 1


class _Stop(Exception):
    """Raised after the last layer's input is seen: the LM head is not needed."""


@dataclass
class _Sums:
    cos: float = 0.0
    abs_cos: float = 0.0
    tokens: int = 0
    change: float = 0.0
    change_raw: float = 0.0
    sinks: int = 0
    sink_sq: float = 0.0
    token_sq: float = 0.0
    token_elems: int = 0
    sink_elems: int = 0
    prev: dict[str, Any] = field(default_factory=dict)


def _input_norm(layer: Any) -> Any:
    norm = getattr(layer, "input_layernorm", None)
    if norm is None:
        raise InvalidInput(
            f"layer type {type(layer).__name__} has no input_layernorm; sink analysis needs one"
        )
    return norm


def sink_curves(
    model: Any, windows: Any, batch_size: int = 1, progress: Any = None
) -> dict[str, Any]:
    """Per-layer sink curves over ``windows`` ([N, T] token ids, T >= 2)."""
    import torch
    import torch.nn.functional as F

    if windows.shape[1] < 2:
        raise InvalidInput(f"seq_len={windows.shape[1]} must be >= 2 for sink analysis")
    layers = decoder_layers(model)
    sums = [_Sums() for _ in layers]
    state: dict[str, Any] = {}

    def hook(idx: int):
        norm = _input_norm(layers[idx])

        def pre_hook(module: Any, args: tuple, kwargs: dict) -> None:
            h = (args[0] if args else kwargs["hidden_states"]).float()
            n = norm(h.to(norm.weight.dtype)).float()
            s = sums[idx]
            cos = F.cosine_similarity(n[:, 1:], n[:, :1], dim=-1, eps=1e-8)
            s.cos += float(cos.sum())
            s.abs_cos += float(cos.abs().sum())
            s.tokens += cos.numel()
            s.sink_sq += float(h[:, 0].pow(2).sum())
            s.sink_elems += h[:, 0].numel()
            s.token_sq += float(h[:, 1:].pow(2).sum())
            s.token_elems += h[:, 1:].numel()
            if idx > 0:
                prev_n, prev_h = state["sink"]
                s.change += float(
                    (1 - F.cosine_similarity(n[:, 0], prev_n, dim=-1, eps=1e-8)).sum()
                )
                s.change_raw += float(
                    (1 - F.cosine_similarity(h[:, 0], prev_h, dim=-1, eps=1e-8)).sum()
                )
                s.sinks += n.shape[0]
            state["sink"] = (n[:, 0], h[:, 0])
            if idx == len(layers) - 1:
                raise _Stop

        return pre_hook

    handles = [
        layer.register_forward_pre_hook(hook(i), with_kwargs=True) for i, layer in enumerate(layers)
    ]
    device = next(model.parameters()).device
    try:
        with torch.inference_mode():
            for start in range(0, len(windows), batch_size):
                with contextlib.suppress(_Stop):
                    model(input_ids=windows[start : start + batch_size].to(device), use_cache=False)
                if progress is not None:
                    progress("analysis: sink", min(1.0, (start + batch_size) / len(windows)))
    finally:
        for handle in handles:
            handle.remove()
    return {
        "layers": list(range(len(layers))),
        "mean_cos": [s.cos / s.tokens for s in sums],
        "mean_abs_cos": [s.abs_cos / s.tokens for s in sums],
        "sink_change": [None] + [s.change / s.sinks for s in sums[1:]],
        "sink_change_raw": [None] + [s.change_raw / s.sinks for s in sums[1:]],
        "sink_rms": [(s.sink_sq / s.sink_elems) ** 0.5 for s in sums],
        "token_rms": [(s.token_sq / s.token_elems) ** 0.5 for s in sums],
        "windows": int(windows.shape[0]),
        "tokens_per_window": int(windows.shape[1]),
    }


def depth_summary(curves: dict[str, Any]) -> dict[str, float]:
    """Mean of each curve over the first and the last third of the layers (for the closing note)."""
    count = len(curves["layers"])
    third = max(1, count // 3)
    out: dict[str, float] = {}
    for key in ("mean_cos", "mean_abs_cos", "sink_change"):
        values = [v for v in curves[key] if v is not None]
        early = [v for i, v in enumerate(curves[key]) if v is not None and i < third]
        late = [v for i, v in enumerate(curves[key]) if v is not None and i >= count - third]
        if values and early and late:
            out[f"{key}_early"] = sum(early) / len(early)
            out[f"{key}_late"] = sum(late) / len(late)
    return out
