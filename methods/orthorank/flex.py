"""The ``flex`` kernel: the reference's function, with the attention through FlexAttention.

The reference attends the K selected queries over all T keys with an explicit boolean mask
``[B, 1, K, T]``; SDPA then cannot use its flash kernel and runs the memory-efficient kernel
with an additive bias over every (query, key) block, masked or not. Here the same mask ("key <=
the query's original position") is a FlexAttention block mask (``methods.orthorank.block_mask``).
Token selection, projections, RoPE, the layer tail and the scatter are the shared operations,
so only the attention kernel differs.

It covers (``flex_covers``) the prefill case the throughput numbers are about: no padding mask,
no KV cache, no sliding window, no logit soft-capping, ``unselected_kv=true``; the dispatch
sends anything else to the reference. ``fused=True`` (the ``fused`` kernel's path for layers it does
not compile whole) also runs RoPE, the block-mask indices, residual + RMSNorm and SiLU x up as
compiled kernels, one by one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from methods.orthorank.block_mask import position_block_mask
from methods.orthorank.ops import (
    add_rmsnorm,
    compiled,
    fusable_tail,
    gather_selected,
    layer_tail,
    project_qkv,
    rope,
    rope_rows,
    silu_mul,
    sliding_window,
)
from methods.orthorank.selection import Selective, select_tokens


def flex_covers(
    layer: Any, settings: Selective, hidden_states: torch.Tensor, layer_kwargs: Mapping[str, Any]
) -> bool:
    """Whether this call (the layer's keyword arguments) is on the prefill fast path."""
    attn = layer.self_attn
    return (
        layer_kwargs.get("position_embeddings") is not None
        and hidden_states.shape[1] > 1
        and attn.head_dim >= 16  # FlexAttention's smallest head size
        and layer_kwargs.get("attention_mask") is None
        and layer_kwargs.get("past_key_values") is None
        and settings.unselected_kv
        and sliding_window(attn) is None
        and getattr(attn, "attn_logit_softcapping", None) is None
    )


def flex_attend(
    attn: Any,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    rows: torch.Tensor,
    fused: bool = False,
) -> torch.Tensor:
    """Selected queries ``[B, H, K, D]`` over all keys, each up to its position in ``rows``."""
    from torch.nn.attention.flex_attention import flex_attention

    bsz, heads, q_len, _ = q.shape
    kv_len = k.shape[2]
    mask, q_pad = position_block_mask(rows, kv_len, fused=fused)
    kv_pad = mask.seq_lengths[1]
    if q_pad != q_len:
        q = torch.nn.functional.pad(q, (0, 0, 0, q_pad - q_len))
    if kv_pad != kv_len:  # padded keys lie past every position, so the mask never admits them
        k = torch.nn.functional.pad(k, (0, 0, 0, kv_pad - kv_len))
        v = torch.nn.functional.pad(v, (0, 0, 0, kv_pad - kv_len))
    # compiled on CUDA: the eager version materialises the scores
    out = compiled("flex", flex_attention, q.device)(
        q, k, v, block_mask=mask, scale=attn.scaling, enable_gqa=k.shape[1] != heads
    )
    return out[:, :, :q_len]


def fused_tail(layer: Any, residual: torch.Tensor, attn_out: torch.Tensor) -> torch.Tensor:
    """``layer_tail`` with the elementwise work in fused kernels (GEMMs unchanged)."""
    dev = residual.device
    norm, mlp = layer.post_attention_layernorm, layer.mlp
    h, x = compiled("add_rmsnorm", add_rmsnorm, dev)(
        residual, attn_out, norm.weight, norm.variance_epsilon
    )
    act = compiled("silu_mul", silu_mul, dev)(mlp.gate_proj(x), mlp.up_proj(x))
    return h + mlp.down_proj(act)


def flex_forward(
    layer: Any,
    settings: Selective,
    hidden_states: torch.Tensor,
    position_embeddings: Any = None,
    fused: bool = False,
    **kwargs: Any,
) -> torch.Tensor:
    """The selective forward with FlexAttention, for calls ``flex_covers`` accepts.

    ``fused=True`` also runs RoPE, residual + RMSNorm and SiLU x up as compiled fused kernels
    (same formulas; on CUDA the roundings between the fused steps differ, as with any kernel).
    Token selection stays the shared code, so the same tokens are chosen.
    """
    attn = layer.self_attn
    bsz = hidden_states.shape[0]
    x = layer.input_layernorm(hidden_states)
    idx, _ = select_tokens(x, None, settings, attn.layer_idx)  # no padding: every row keeps K
    n_sel = idx.shape[1]
    gather_idx, h_sel, x_sel = gather_selected(hidden_states, x, idx)
    cos, sin = position_embeddings
    q, k, v = project_qkv(attn, x, x_sel)
    if fused:
        q = compiled("rope_rows", rope_rows, q.device)(q, cos, sin, idx)
        k = compiled("rope", rope, q.device)(k, cos, sin)
    else:
        q = rope_rows(q, cos, sin, idx)
        k = rope(k, cos, sin)
    # without a cache, a query's key limit is its own index
    out = flex_attend(attn, q, k, v, idx, fused=fused)
    out = attn.o_proj(out.transpose(1, 2).reshape(bsz, n_sel, -1))
    tail = fused_tail if fused and fusable_tail(layer) else layer_tail
    new = tail(layer, h_sel, out)
    return hidden_states.scatter(1, gather_idx, new.to(hidden_states.dtype))
