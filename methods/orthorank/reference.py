"""The reference kernel: OrthoRank's token-selective forward of one decoder layer, in plain torch.

``reference_forward(layer, settings, hidden_states, **layer_kwargs)`` computes one Hugging Face
decoder layer (Llama, Mistral, Qwen2, Qwen3, Gemma 3) for a subset of the tokens:

1. ``x = input_layernorm(h)`` for every token (K/V need it anyway); the tokens are selected by
   ``methods.orthorank.selection`` (the least aligned with the sink).
2. Q is computed for the selected tokens only; K and V for all tokens (these go into the KV
   cache); selected queries attend over all keys with the rows of the layer's own causal mask
   (padding and sliding windows included) at their original positions.
3. o_proj, residual, the post-attention norm(s) and the MLP run on the selected tokens only, and
   their new states are scattered back; every other token leaves the layer unchanged.

A single decoded token (``q_len == 1``) runs the layer's own forward. Nothing here reads a
tensor back to the host, so the path stays asynchronous on CUDA. Every input the model can
pass is covered: the other kernels fall back to this one.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from methods.orthorank.ops import (
    gather_selected,
    layer_tail,
    project_qkv,
    rope,
    rope_rows,
    sliding_window,
)
from methods.orthorank.selection import Selective, select_tokens


def reference_forward(
    layer: Any,
    settings: Selective,
    hidden_states: torch.Tensor,
    attention_mask: Any = None,
    position_embeddings: Any = None,
    past_key_values: Any = None,
    **kwargs: Any,
) -> torch.Tensor:
    """The token-selective forward of ``layer`` (see the module docstring)."""
    bsz, q_len, _ = hidden_states.shape
    if q_len == 1:  # a decoded token is always updated
        return type(layer).forward(
            layer,
            hidden_states,
            attention_mask=attention_mask,
            position_embeddings=position_embeddings,
            past_key_values=past_key_values,
            **kwargs,
        )
    attn = layer.self_attn
    if position_embeddings is None:
        raise ValueError("orthorank: the decoder layer got no position_embeddings")
    device = hidden_states.device
    q_pos, allowed_fn, is_real = _mask_info(
        attn, attention_mask, past_key_values, bsz, q_len, device
    )

    x = layer.input_layernorm(hidden_states)
    idx, valid = select_tokens(x, is_real, settings, attn.layer_idx)
    if settings.record is not None:
        settings.record.append((attn.layer_idx, idx, valid))
    n_sel = idx.shape[1]
    gather_idx, h_sel, x_sel = gather_selected(hidden_states, x, idx)
    cos, sin = position_embeddings
    q, k, v = project_qkv(attn, x, x_sel)
    q = rope_rows(q, cos, sin, idx)
    k = rope(k, cos, sin)
    if past_key_values is not None:
        k, v = past_key_values.update(k, v, attn.layer_idx)

    rows = q_pos.expand(bsz, -1).gather(1, idx)  # the selected queries' key indices
    allowed = allowed_fn(rows, idx)
    if not settings.unselected_kv:
        allowed = allowed & _visible_keys(rows, valid, q_pos, allowed.shape[-1])[:, None, None, :]
    if valid is not None:  # rows of unused slots would be fully masked (NaN): open them
        allowed = allowed | ~valid[:, None, :, None]

    out = _attend(attn, q, k, v, allowed)
    out = attn.o_proj(out.transpose(1, 2).reshape(bsz, n_sel, -1))
    new = layer_tail(layer, h_sel, out)
    if valid is not None:
        new = torch.where(valid[..., None], new, h_sel)
    return hidden_states.scatter(1, gather_idx, new.to(hidden_states.dtype))


def _attend(
    attn: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor
) -> torch.Tensor:
    """Attention of the selected queries over all keys with a boolean mask ``[B, 1, K, S]``."""
    groups = q.shape[1] // k.shape[1]
    if groups > 1:
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
    softcap = getattr(attn, "attn_logit_softcapping", None)
    if softcap is None:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=attn.scaling)
    scores = torch.matmul(q, k.transpose(2, 3)) * attn.scaling
    scores = torch.tanh(scores / softcap) * softcap
    scores = scores.masked_fill(~allowed, float("-inf"))
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.matmul(probs, v)


def _visible_keys(rows: torch.Tensor, valid: Any, q_pos: torch.Tensor, kv_len: int) -> torch.Tensor:
    """``[B, S]``: keys visible with ``unselected_kv=false``: the cached past and the selected."""
    keys = torch.arange(kv_len, device=rows.device)
    keep = (keys[None, :] < q_pos[:, :1]).expand(rows.shape[0], -1).clone()
    if valid is None:
        return keep.scatter_(1, rows, True)
    return keep.scatter_(1, rows, valid)


def _mask_info(attn: Any, mask: Any, cache: Any, bsz: int, q_len: int, device: Any):
    """(query positions in key space ``[1|B, T]``, ``allowed(rows, idx) -> [B,1,K,S]``, is_real).

    The rows of the layer's own mask are reused whenever the model built one, so padding,
    sliding windows and cache offsets are exactly the model's; ``is_real`` is each query's
    diagonal entry (a padding token may not even attend to itself).
    """
    layer_idx = attn.layer_idx
    if cache is not None:
        offset = getattr(cache, "get_query_offset", None)  # older transformers: the cache length
        q_off = offset(layer_idx) if offset is not None else cache.get_seq_length(layer_idx)
        kv_len, kv_off = cache.get_mask_sizes(q_len, layer_idx)
    else:
        q_off, kv_len, kv_off = 0, q_len, 0
    if isinstance(q_off, torch.Tensor):
        q_off = q_off.to(device)
    q_pos = (torch.arange(q_len, device=device) + (q_off - kv_off))[None, :]  # key index of query i

    if mask is None:
        window = sliding_window(attn)
        keys = torch.arange(kv_len, device=device)

        def allowed_fn(rows: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            rows = rows.expand(bsz, -1)[..., None]
            ok = keys <= rows
            if window is not None:
                ok = ok & (rows - keys < window)
            return ok[:, None]

        return q_pos, allowed_fn, None

    if not isinstance(mask, torch.Tensor):
        raise NotImplementedError(
            f"orthorank supports the eager and sdpa attention implementations, got a {type(mask).__name__} mask"
        )
    if mask.dtype != torch.bool:
        mask = mask > torch.finfo(mask.dtype).min / 2
    if mask.ndim == 2:  # [B, S] padding mask (flash-attention style)
        keys = torch.arange(mask.shape[-1], device=device)
        window = sliding_window(attn)
        is_real = mask.gather(1, q_pos.expand(bsz, -1))

        def allowed_fn(rows: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            rows = rows.expand(bsz, -1)[..., None]
            ok = (keys <= rows) & mask[:, None, :]
            if window is not None:
                ok = ok & (rows - keys < window)
            return ok[:, None]

        return q_pos, allowed_fn, is_real

    full = mask[:, :1].expand(bsz, 1, q_len, mask.shape[-1])
    diag = full[:, 0].gather(2, q_pos.expand(bsz, -1)[..., None]).squeeze(-1)

    def allowed_fn(rows: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return full.gather(2, idx[:, None, :, None].expand(-1, 1, -1, full.shape[-1]))

    return q_pos, allowed_fn, diag
