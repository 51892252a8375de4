"""The tensor operations OrthoRank's kernels share: RoPE, row gathers, norms, the layer tail.

The bottom of ``methods.orthorank``: imports nothing of the package. Each is written once, so
the reference, ``flex`` and ``fused`` kernels compute the same formulas (``compiled`` turns one
into a single fused kernel on CUDA without changing what it computes).
"""

from __future__ import annotations

from typing import Any

import torch

_compiled: dict[str, Any] = {}  # name -> compiled function, shared by every kernel


def compiled(name: str, fn: Any, device: torch.device) -> Any:
    """``fn`` compiled on CUDA (one fused kernel instead of several passes), plain elsewhere."""
    if device.type != "cuda":
        return fn
    if name not in _compiled:
        _compiled[name] = torch.compile(fn, dynamic=False)
    return _compiled[name]


def compiled_names() -> set[str]:
    """The names compiled so far (tests check that layers share their graphs)."""
    return set(_compiled)


def clear_compiled() -> None:
    _compiled.clear()


def take_rows(t: torch.Tensor, idx: torch.Tensor, bsz: int) -> torch.Tensor:
    """``t[b, idx[b]]`` for a ``[1 or B, T, D]`` tensor."""
    t = t.expand(bsz, -1, -1)
    return t.gather(1, idx[..., None].expand(-1, -1, t.shape[-1]))


def gather_selected(
    hidden_states: torch.Tensor, x: torch.Tensor, idx: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(gather index ``[B, K, D]``, the selected rows of ``hidden_states`` and of ``x``)."""
    gather_idx = idx[..., None].expand(-1, -1, x.shape[-1])
    return gather_idx, hidden_states.gather(1, gather_idx), x.gather(1, gather_idx)


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding (the rotate-half form shared by all supported architectures)."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def rope_rows(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, idx: torch.Tensor
) -> torch.Tensor:
    """RoPE of the selected rows: gathers their cos/sin rows and rotates in one pass."""
    bsz = x.shape[0]
    return rope(x, take_rows(cos, idx, bsz), take_rows(sin, idx, bsz))


def project_qkv(
    attn: Any, x: torch.Tensor, x_sel: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Q of the selected rows, K and V of all rows, ``[B, heads, rows, head_dim]``, before RoPE
    (with the q/k norms of Qwen3 and Gemma 3)."""
    bsz, q_len, _ = x.shape
    head_dim = attn.head_dim
    q = attn.q_proj(x_sel).view(bsz, x_sel.shape[1], -1, head_dim).transpose(1, 2)
    k = attn.k_proj(x).view(bsz, q_len, -1, head_dim).transpose(1, 2)
    v = attn.v_proj(x).view(bsz, q_len, -1, head_dim).transpose(1, 2)
    if getattr(attn, "q_norm", None) is not None:
        q = attn.q_norm(q)
        k = attn.k_norm(k)
    return q, k, v


def layer_tail(layer: Any, residual: torch.Tensor, attn_out: torch.Tensor) -> torch.Tensor:
    """Everything after o_proj: Llama-style pre-norm, or Gemma 3's sandwich norms."""
    if hasattr(layer, "pre_feedforward_layernorm"):  # Gemma 3
        h = residual + layer.post_attention_layernorm(attn_out)
        mlp_out = layer.mlp(layer.pre_feedforward_layernorm(h))
        return h + layer.post_feedforward_layernorm(mlp_out)
    h = residual + attn_out
    return h + layer.mlp(layer.post_attention_layernorm(h))


def fusable_tail(layer: Any) -> bool:
    """Llama-style pre-norm layer with a SiLU-gated MLP (Llama, Mistral, Qwen2, Qwen3)."""
    mlp, norm = getattr(layer, "mlp", None), getattr(layer, "post_attention_layernorm", None)
    return (
        not hasattr(layer, "pre_feedforward_layernorm")
        and all(hasattr(mlp, n) for n in ("gate_proj", "up_proj", "down_proj"))
        and type(getattr(mlp, "act_fn", None)).__name__ in ("SiLU", "SiLUActivation")
        and hasattr(norm, "variance_epsilon")
        and type(norm).__name__.endswith("RMSNorm")
    )


def rms_norm(h: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Llama's RMSNorm: float32 inside, the weight applied in the input dtype."""
    x = h.float()
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return weight * x.to(h.dtype)


def add_rmsnorm(residual: torch.Tensor, update: torch.Tensor, weight: torch.Tensor, eps: float):
    """(h, norm(h)) with h = residual + update."""
    h = residual + update
    return h, rms_norm(h, weight, eps)


def silu_mul(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.silu(gate) * up


def sliding_window(attn: Any) -> int | None:
    """The attention's sliding window, or None (Mistral keeps it on the config)."""
    if hasattr(attn, "sliding_window"):
        return attn.sliding_window
    return getattr(attn.config, "sliding_window", None)
