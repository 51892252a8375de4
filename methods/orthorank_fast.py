"""A faster OrthoRank selective forward: the same function, attention through FlexAttention.

``methods.orthorank_layer.selective_forward`` attends the K selected queries over all T keys
with an explicit boolean mask ``[B, 1, K, T]``. SDPA then cannot use its flash kernel: it runs
the memory-efficient kernel with an additive bias, over every (query, key) block, masked or not.
Here the same mask ("key <= the query's original position") is given to FlexAttention as a
block mask built directly from the sorted positions: fully visible key blocks run without a
mask, blocks past the query block's last position are skipped, and only the diagonal blocks
evaluate the mask. Token selection, projections, RoPE, the layer tail and the scatter are the
reference's own functions, so only the attention kernel differs.

The fast path covers the prefill case the throughput numbers are about: no padding mask, no
KV cache, no sliding window, no logit soft-capping, ``unselected_kv=true``. Anything else runs
the reference forward unchanged. OrthoRank's ``kernel`` option picks it: ``flex`` is this
module; ``fused`` (``auto`` on CUDA) is ``methods.orthorank_fused``, which compiles the whole
Llama-style layer into two regions and falls back to ``fast_forward(fused=True)`` here (RoPE,
the block-mask indices, residual + RMSNorm and SiLU x up compiled one by one) for the others.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from methods.layers import decoder_layers
from methods.orthorank_layer import (
    _layer_tail,
    _rope,
    _select,
    _sliding_window,
    _take_rows,
    is_selective,
    selective_forward,
)

BLOCK = 128
_compiled: dict[str, Any] = {}


def _flex(device: torch.device) -> Any:
    """flex_attention, compiled on CUDA (the eager version materialises the scores)."""
    from torch.nn.attention.flex_attention import flex_attention

    if device.type != "cuda":
        return flex_attention
    if "flex" not in _compiled:
        _compiled["flex"] = torch.compile(flex_attention, dynamic=False)
    return _compiled["flex"]


def block_indices(rows: torch.Tensor, kv_len: int, block: int) -> tuple[torch.Tensor, ...]:
    """The BlockMask's index tensors for "query j sees keys <= rows[b, j]" (integer work only).

    Queries are padded to whole blocks by repeating the last position (padded rows are valid
    and are sliced off afterwards). Returns (padded rows, partial counts, partial block indices,
    full counts, full block indices), the last four shaped ``[B, 1, q_blocks(, kv_blocks)]``.
    """
    bsz, q_len = rows.shape
    nqb, nkb = math.ceil(q_len / block), math.ceil(kv_len / block)
    q_pad = nqb * block
    rows_p = torch.cat([rows, rows[:, -1:].expand(bsz, q_pad - q_len)], dim=1)
    blocks = rows_p.view(bsz, nqb, block)
    lo, hi = blocks[..., 0], blocks[..., -1]  # smallest and largest position in each query block
    full = torch.div(lo + 1, block, rounding_mode="floor")  # key blocks every query sees entirely
    last = torch.div(hi, block, rounding_mode="floor")  # last key block any query touches
    partial = last + 1 - full
    ar = torch.arange(nkb, device=rows.device, dtype=torch.int32)
    full_idx = ar.expand(bsz, nqb, nkb)
    part_idx = (full[..., None].to(torch.int32) + ar).clamp_max(nkb - 1)
    return (
        rows_p,
        partial[:, None].to(torch.int32),
        part_idx[:, None].contiguous(),
        full[:, None].to(torch.int32),
        full_idx[:, None].contiguous(),
    )


def position_block_mask(
    rows: torch.Tensor, kv_len: int, block: int = BLOCK, fused: bool = False
) -> tuple[Any, int]:
    """BlockMask for "query j sees keys <= rows[b, j]" with ``rows`` ascending per row.

    Returns the mask and the padded query length. ``fused=True`` builds the index tensors in
    one compiled kernel on CUDA instead of about a dozen small ones (integers: same values).
    """
    build = _fused("block_indices", block_indices, rows.device) if fused else block_indices
    rows_p, *blocks = build(rows, kv_len, block)
    return assemble_block_mask(rows_p, blocks, block), rows_p.shape[1]


def assemble_block_mask(rows_p: torch.Tensor, blocks: list[torch.Tensor], block: int) -> Any:
    """The BlockMask object from ``block_indices``'s output (host work only, no kernels)."""
    from torch.nn.attention.flex_attention import BlockMask

    def mask_mod(b: Any, h: Any, q_idx: Any, kv_idx: Any) -> Any:
        return kv_idx <= rows_p[b, q_idx]

    kv_pad = blocks[1].shape[-1] * block  # kv block indices: [B, 1, q_blocks, kv_blocks]
    kwargs: dict[str, Any] = dict(
        BLOCK_SIZE=block, mask_mod=mask_mod, seq_lengths=(rows_p.shape[1], kv_pad)
    )
    try:
        return BlockMask.from_kv_blocks(*blocks, **kwargs, compute_q_blocks=False)
    except TypeError:  # older torch without compute_q_blocks
        return BlockMask.from_kv_blocks(*blocks, **kwargs)


def flex_attend(
    attn: Any,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    rows: torch.Tensor,
    fused: bool = False,
) -> torch.Tensor:
    """Selected queries ``[B, H, K, D]`` over all keys, each up to its position in ``rows``."""
    bsz, heads, q_len, _ = q.shape
    kv_len = k.shape[2]
    mask, q_pad = position_block_mask(rows, kv_len, fused=fused)
    kv_pad = mask.seq_lengths[1]
    if q_pad != q_len:
        q = torch.nn.functional.pad(q, (0, 0, 0, q_pad - q_len))
    if kv_pad != kv_len:  # padded keys lie past every position, so the mask never admits them
        k = torch.nn.functional.pad(k, (0, 0, 0, kv_pad - kv_len))
        v = torch.nn.functional.pad(v, (0, 0, 0, kv_pad - kv_len))
    out = _flex(q.device)(
        q, k, v, block_mask=mask, scale=attn.scaling, enable_gqa=k.shape[1] != heads
    )
    return out[:, :, :q_len]


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """The reference's rotate-half RoPE, written once so it can be compiled into one kernel."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def rope_rows(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, idx: torch.Tensor
) -> torch.Tensor:
    """RoPE of the selected rows: gathers their cos/sin rows and rotates in one pass."""
    bsz = x.shape[0]
    return rope(x, _take_rows(cos, idx, bsz), _take_rows(sin, idx, bsz))


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


def _fused(name: str, fn: Any, device: torch.device) -> Any:
    """``fn`` compiled on CUDA (one fused kernel instead of several passes), plain elsewhere."""
    if device.type != "cuda":
        return fn
    if name not in _compiled:
        _compiled[name] = torch.compile(fn, dynamic=False)
    return _compiled[name]


def _fusable_tail(layer: Any) -> bool:
    """Llama-style pre-norm layer with a SiLU-gated MLP (Llama, Mistral, Qwen2, Qwen3)."""
    mlp, norm = getattr(layer, "mlp", None), getattr(layer, "post_attention_layernorm", None)
    return (
        not hasattr(layer, "pre_feedforward_layernorm")
        and all(hasattr(mlp, n) for n in ("gate_proj", "up_proj", "down_proj"))
        and type(getattr(mlp, "act_fn", None)).__name__ in ("SiLU", "SiLUActivation")
        and hasattr(norm, "variance_epsilon")
        and type(norm).__name__.endswith("RMSNorm")
    )


def fused_tail(layer: Any, residual: torch.Tensor, attn_out: torch.Tensor) -> torch.Tensor:
    """``_layer_tail`` with the elementwise work in fused kernels (GEMMs unchanged)."""
    dev = residual.device
    norm, mlp = layer.post_attention_layernorm, layer.mlp
    h, x = _fused("add_rmsnorm", add_rmsnorm, dev)(
        residual, attn_out, norm.weight, norm.variance_epsilon
    )
    act = _fused("silu_mul", silu_mul, dev)(mlp.gate_proj(x), mlp.up_proj(x))
    return h + mlp.down_proj(act)


def _fast_ok(layer: Any, settings: Any, hidden_states: Any, mask: Any, cache: Any) -> bool:
    attn = layer.self_attn
    return (
        hidden_states.shape[1] > 1
        and attn.head_dim >= 16  # FlexAttention's smallest head size
        and mask is None
        and cache is None
        and settings.unselected_kv
        and _sliding_window(attn) is None
        and getattr(attn, "attn_logit_softcapping", None) is None
    )


def fast_forward(
    layer: Any,
    settings: Any,
    hidden_states: torch.Tensor,
    attention_mask: Any = None,
    position_embeddings: Any = None,
    past_key_values: Any = None,
    fused: bool = False,
    **kwargs: Any,
) -> torch.Tensor:
    """``selective_forward`` with FlexAttention on the prefill fast path (see module docstring).

    ``fused=True`` also runs RoPE, residual + RMSNorm and SiLU x up as compiled fused kernels
    (same formulas; on CUDA the roundings between the fused steps differ, as with any kernel).
    Token selection stays the reference's own code, so the same tokens are chosen.
    """
    if position_embeddings is None or not _fast_ok(
        layer, settings, hidden_states, attention_mask, past_key_values
    ):
        return selective_forward(
            layer,
            settings,
            hidden_states,
            attention_mask=attention_mask,
            position_embeddings=position_embeddings,
            past_key_values=past_key_values,
            **kwargs,
        )
    attn = layer.self_attn
    bsz, q_len, _ = hidden_states.shape
    x = layer.input_layernorm(hidden_states)
    idx, _ = _select(x, None, settings, attn.layer_idx)  # no padding: every row keeps K tokens
    n_sel = idx.shape[1]
    gather_idx = idx[..., None].expand(-1, -1, x.shape[-1])
    h_sel = hidden_states.gather(1, gather_idx)
    x_sel = x.gather(1, gather_idx)
    head_dim = attn.head_dim
    cos, sin = position_embeddings
    q = attn.q_proj(x_sel).view(bsz, n_sel, -1, head_dim).transpose(1, 2)
    k = attn.k_proj(x).view(bsz, q_len, -1, head_dim).transpose(1, 2)
    v = attn.v_proj(x).view(bsz, q_len, -1, head_dim).transpose(1, 2)
    if getattr(attn, "q_norm", None) is not None:
        q = attn.q_norm(q)
        k = attn.k_norm(k)
    if fused:
        q = _fused("rope_rows", rope_rows, q.device)(q, cos, sin, idx)
        k = _fused("rope", rope, q.device)(k, cos, sin)
    else:
        q = _rope(q, _take_rows(cos, idx, bsz), _take_rows(sin, idx, bsz))
        k = _rope(k, cos, sin)
    # without a cache, a query's key limit is its own index
    out = flex_attend(attn, q, k, v, idx, fused=fused)
    out = attn.o_proj(out.transpose(1, 2).reshape(bsz, n_sel, -1))
    tail = fused_tail if fused and _fusable_tail(layer) else _layer_tail
    new = tail(layer, h_sel, out)
    return hidden_states.scatter(1, gather_idx, new.to(hidden_states.dtype))


def install(model: Any, fused: bool = False) -> list[int]:
    """Switch every selective layer of ``model`` to the fast path; returns their indices.

    The same as applying OrthoRank with ``kernel=flex`` (or ``kernel=fused``).
    """
    done = []
    for i, layer in enumerate(decoder_layers(model)):
        if is_selective(layer):
            layer.orthorank.kernel = "fused" if fused else "flex"
            done.append(i)
    return done
