"""OrthoRank's token-selective decoder-layer forward, and its FLOP count.

``selective_forward(layer, settings, hidden_states, **layer_kwargs)`` computes one Hugging Face
decoder layer (Llama, Mistral, Qwen2, Qwen3, Gemma 3) for a subset of the tokens:

1. ``x = input_layernorm(h)`` for every token (K/V need it anyway); the score of token i is
   ``|cos(x_i, x_sink)|`` with the sink the first non-padding token of the sequence.
2. The ``k = ceil(keep_ratio x T)`` real tokens with the smallest score are selected (the sink
   scores above every real token, padding above the sink: the sink is only picked when k = T).
3. Q is computed for the selected tokens only; K and V for all tokens (these go into the KV
   cache); selected queries attend over all keys with the rows of the layer's own causal mask
   (padding and sliding windows included) at their original positions.
4. o_proj, residual, the post-attention norm(s) and the MLP run on the selected tokens only, and
   their new states are scattered back; every other token leaves the layer unchanged.

A single decoded token (``q_len == 1``) runs the layer's own forward. Nothing here reads a
tensor back to the host, so the path stays asynchronous on CUDA.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

SCORES = ("orthogonality", "random", "reverse")
_SINK_KEY = 3.0e38  # above any real token's key: the sink is picked only when k = T
_PAD_KEY = float("inf")  # above the sink: padding is picked last, and never counted as valid


@dataclass
class Selective:
    """Per-layer settings, attached to a decoder layer as ``layer.orthorank``."""

    keep_ratio: float = 0.33
    score: str = "orthogonality"
    unselected_kv: bool = True
    seed: int = 0
    kernel: str = "reference"  # reference | flex | fused (see methods.orthorank_fast)
    generators: dict = field(default_factory=dict, repr=False)  # device -> torch.Generator
    record: list | None = field(default=None, repr=False)  # diagnostics: (layer_idx, idx, valid)

    def generator(self, device: torch.device, layer_idx: int) -> torch.Generator:
        gen = self.generators.get(str(device))
        if gen is None:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed * 1_000_003 + layer_idx)
            self.generators[str(device)] = gen
        return gen


def keep_count(keep_ratio: float, tokens: int) -> int:
    """k = ceil(keep_ratio x T), with a small tolerance so 0.07 x 100 gives 7, not 8."""
    return min(tokens, max(0, math.ceil(keep_ratio * tokens - 1e-9)))


# ---------------------------------------------------------------------------------------------
# install / remove


def make_selective(layer: Any, settings: Selective) -> Any:
    """Replace ``layer``'s forward (on the instance) by the selective one; returns ``layer``.

    The layer keeps its class, parameter names and output-recording hooks; ``make_dense`` undoes
    it. A bound method (not a closure) so that ``copy.deepcopy`` rebinds it to the copy.
    """
    layer.orthorank = settings
    layer.forward = types.MethodType(_selective_method, layer)
    return layer


def _selective_method(self: Any, hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
    if args:
        raise TypeError("orthorank: decoder layers take their arguments by keyword")
    settings = self.orthorank
    if settings.kernel == "fused":
        from methods.orthorank_fused import fused_forward

        return fused_forward(self, settings, hidden_states, **kwargs)
    if settings.kernel == "flex":
        from methods.orthorank_fast import fast_forward

        return fast_forward(self, settings, hidden_states, **kwargs)
    return selective_forward(self, settings, hidden_states, **kwargs)


def make_dense(layer: Any) -> Any:
    if "forward" in layer.__dict__:
        del layer.forward
    layer.__dict__.pop("orthorank", None)
    return layer


def is_selective(layer: Any) -> bool:
    return isinstance(getattr(layer, "orthorank", None), Selective)


# ---------------------------------------------------------------------------------------------
# the forward


def selective_forward(
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
    idx, valid = _select(x, is_real, settings, attn.layer_idx)
    if settings.record is not None:
        settings.record.append((attn.layer_idx, idx, valid))
    n_sel = idx.shape[1]
    gather_idx = idx[..., None].expand(-1, -1, x.shape[-1])
    h_sel = hidden_states.gather(1, gather_idx)
    x_sel = x.gather(1, gather_idx)

    head_dim = attn.head_dim
    cos, sin = position_embeddings
    cos_sel = _take_rows(cos, idx, bsz)
    sin_sel = _take_rows(sin, idx, bsz)
    q = attn.q_proj(x_sel).view(bsz, n_sel, -1, head_dim).transpose(1, 2)
    k = attn.k_proj(x).view(bsz, q_len, -1, head_dim).transpose(1, 2)
    v = attn.v_proj(x).view(bsz, q_len, -1, head_dim).transpose(1, 2)
    if getattr(attn, "q_norm", None) is not None:
        q = attn.q_norm(q)
        k = attn.k_norm(k)
    q = _rope(q, cos_sel, sin_sel)
    k = _rope(k, cos, sin)
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
    new = _layer_tail(layer, h_sel, out)
    if valid is not None:
        new = torch.where(valid[..., None], new, h_sel)
    return hidden_states.scatter(1, gather_idx, new.to(hidden_states.dtype))


def _layer_tail(layer: Any, residual: torch.Tensor, attn_out: torch.Tensor) -> torch.Tensor:
    """Everything after o_proj: Llama-style pre-norm, or Gemma 3's sandwich norms."""
    if hasattr(layer, "pre_feedforward_layernorm"):  # Gemma 3
        h = residual + layer.post_attention_layernorm(attn_out)
        mlp_out = layer.mlp(layer.pre_feedforward_layernorm(h))
        return h + layer.post_feedforward_layernorm(mlp_out)
    h = residual + attn_out
    return h + layer.mlp(layer.post_attention_layernorm(h))


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding (rotate-half form shared by all supported architectures)."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def _take_rows(t: torch.Tensor, idx: torch.Tensor, bsz: int) -> torch.Tensor:
    """``t[b, idx[b]]`` for a ``[1 or B, T, D]`` tensor."""
    t = t.expand(bsz, -1, -1)
    return t.gather(1, idx[..., None].expand(-1, -1, t.shape[-1]))


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


# ---------------------------------------------------------------------------------------------
# selection


def _select(x: torch.Tensor, is_real: torch.Tensor | None, settings: Selective, layer_idx: int):
    """Indices ``[B, K]`` (ascending) of the selected tokens, and which slots are in use.

    ``valid`` is None when every row selects exactly K tokens (no padding).
    """
    bsz, q_len, _ = x.shape
    device = x.device
    if is_real is None:
        sink = torch.zeros(bsz, dtype=torch.long, device=device)
    else:
        sink = is_real.to(torch.int8).argmax(dim=1)  # first real token
    key = _score(x, sink, settings, layer_idx)
    key = key.scatter(1, sink[:, None], _SINK_KEY)
    slots = keep_count(settings.keep_ratio, q_len)
    if is_real is None:
        idx = key.topk(slots, dim=1, largest=False, sorted=False).indices
        return idx.sort(dim=1).values, None
    key = key.masked_fill(~is_real, _PAD_KEY)
    idx = key.topk(slots, dim=1, largest=False, sorted=True).indices
    real = is_real.sum(dim=1)
    k_row = torch.ceil(real.double() * settings.keep_ratio - 1e-9).long()
    valid = torch.arange(slots, device=device)[None, :] < k_row[:, None]
    idx, order = idx.sort(dim=1)
    return idx, valid.gather(1, order)


def _score(
    x: torch.Tensor, sink: torch.Tensor, settings: Selective, layer_idx: int
) -> torch.Tensor:
    """``[B, T]`` float32 ranking keys (smallest are selected).

    |cos(x_i, x_sink)| up to the factor 1 / |x_sink|, which is the same for every token of a
    sequence and so leaves the order unchanged: one dot product and one norm per token.
    """
    if settings.score == "random":
        gen = settings.generator(x.device, layer_idx)
        return torch.rand(x.shape[:2], generator=gen, device=x.device, dtype=torch.float32)
    return orthogonality_key(x, sink, reverse=settings.score == "reverse")


def orthogonality_key(x: torch.Tensor, sink: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """``[B, T]`` float32 |x_i . x_sink| / |x_i| (negated for ``reverse``); ``sink`` is ``[B]``."""
    x_sink = x.gather(1, sink[:, None, None].expand(-1, 1, x.shape[-1]))  # [B, 1, D]
    dot = torch.bmm(x, x_sink.transpose(1, 2)).squeeze(-1).float()
    key = dot.abs_() / torch.linalg.vector_norm(x, dim=-1, dtype=torch.float32).clamp_min_(1e-30)
    return key.neg_() if reverse else key


# ---------------------------------------------------------------------------------------------
# masks


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
        window = _sliding_window(attn)
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
        window = _sliding_window(attn)
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


def _sliding_window(attn: Any) -> int | None:
    if hasattr(attn, "sliding_window"):
        return attn.sliding_window
    return getattr(attn.config, "sliding_window", None)  # Mistral keeps it on the config


# ---------------------------------------------------------------------------------------------
# FLOPs


def layer_flops(config: Any, tokens: int, selected: int | None = None) -> float:
    """Multiply-add FLOPs (x2) of one decoder layer on ``tokens`` tokens, causal attention.

    ``selected=None``: the dense layer. Otherwise the selective layer: Q, o_proj, MLP and the
    attention of ``selected`` queries (placed uniformly, so each sees (T + 1) / 2 keys on
    average), K/V projections for every token, and the score (a norm and a dot product per token).
    Norms, RoPE and the softmax are left out on both sides.
    """
    d = config.hidden_size
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or d // heads
    inter = config.intermediate_size
    q_o = 2 * 2 * d * heads * head_dim  # q_proj + o_proj per token
    kv = 2 * 2 * d * kv_heads * head_dim  # k_proj + v_proj per token
    mlp = 3 * 2 * d * inter  # gate, up, down
    per_pair = 2 * 2 * heads * head_dim  # QK^T and AV per (query, key) pair
    if selected is None:
        return tokens * (q_o + kv + mlp) + per_pair * tokens * (tokens + 1) / 2
    score = 4 * d * tokens
    return tokens * kv + selected * (q_o + mlp) + per_pair * selected * (tokens + 1) / 2 + score
