"""OrthoRank's selective layer as two compiled regions: the ``kernel=fused`` prefill path.

At batch 1 x 2048 on an H100 a selective Llama-2-7B layer needs about 0.85 ms of GPU work, but
issuing it op by op took the host 1.85 ms (``benchmarks/orthorank_host_overhead.py``): eager
PyTorch costs tens of microseconds per op there, and each separately compiled helper adds a
guard check and wrapper of its own. Here the layer is two ``torch.compile`` regions, with the
weights passed as tensors so every layer of a model shares one compiled graph per shape:

1. ``select_and_project``: input RMSNorm, the score, top-k, the gathers, Q (selected rows), K
   and V (all rows), RoPE, and the index tensors of the attention's block mask;
2. ``attend_and_finish``: FlexAttention of the selected queries, o_proj, residual,
   post-attention RMSNorm, the SiLU-gated MLP and the scatter back.

Between them only the BlockMask object is assembled (``assemble_block_mask``, no GPU work).
The formulas are the reference's (the shared ``methods.orthorank.ops`` and ``selection``);
compiled kernels round differently, so on CUDA the output differs from the reference by a bf16
kernel change (and a near-tie at the top-k boundary may pick a different token). Off CUDA both regions run uncompiled, which the CPU tests compare
with the reference. Covered: Llama-style layers (Llama, Mistral without a sliding window, Qwen2)
with the orthogonality or reverse score on the prefill fast path the ``flex`` kernel covers
(``fused_covers`` adds the layer conditions); the dispatch sends other layers to ``flex`` with
``fused=True``.
"""

from __future__ import annotations

from typing import Any

import torch

from methods.orthorank.block_mask import (
    BLOCK,
    assemble_block_mask,
    block_indices,
    split_block_indices,
)
from methods.orthorank.ops import compiled, fusable_tail, rms_norm, rope, rope_rows, silu_mul
from methods.orthorank.selection import (
    SINK_KEY,
    Selective,
    keep_count,
    orthogonality_key,
    smallest_in_order,
)

# Triton options of the FlexAttention kernel in region 2 (empty: FlexAttention's defaults). The
# block mask's blocks stay 128 x 128; a smaller BLOCK_M splits each into more programs.
# ``benchmarks/profile_orthorank.py --flex-options`` times alternatives.
FLEX_KERNEL_OPTIONS: dict[str, Any] = {}
# Key chunks of region 2's attention at batch 1 (1: one FlexAttention call over all keys). With
# S > 1 the keys are cut into S chunks that run as S batch entries (``split_block_indices``) and
# the partial results are merged by their log-sum-exp: S times the programs, each 1/S as long.
# Unmeasured on a GPU so far (``benchmarks/profile_orthorank.py --kv-splits`` times it).
FLEX_KV_SPLITS = 1
# 2: the two compiled regions with the BlockMask assembled on the host between them; 1: one
# compiled region holding all three (``one_region``: one call's guards and wrapper instead of two,
# no host-side BlockMask; it compiles fullgraph with inductor on CPU, torch 2.13). Unmeasured on a
# GPU so far (``benchmarks/profile_orthorank.py --one-region`` times it).
FUSED_REGIONS = 2
# ``smallest_in_order`` does T x T comparisons per sequence: 44 us less than top-k + sort per layer
# at 2,048 tokens on an H200 (2026-12-01), unmeasured beyond; longer prompts keep the top-k.
SORT_FREE_MAX_TOKENS = 4096


def select_and_project(
    h: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    w: dict[str, Any],
    keep: int,
    reverse: bool,
    heads: int,
    kv_heads: int,
    head_dim: int,
    splits: int = 1,
) -> tuple[torch.Tensor, ...]:
    """Region 1: (idx, h_sel, q, k, v, rows_p, the block-mask index tensors...); with
    ``splits`` > 1 the block mask is the one of ``split_block_indices``."""
    bsz, q_len, dim = h.shape
    x = rms_norm(h, w["in_norm"], w["in_eps"])
    sink = torch.zeros(bsz, dtype=torch.long, device=h.device)  # no padding: token 0
    key = orthogonality_key(x, sink, reverse).scatter(1, sink[:, None], SINK_KEY)
    if h.is_cuda and q_len <= SORT_FREE_MAX_TOKENS:  # compiled: fused reductions, no sort
        idx = smallest_in_order(key, keep)
    else:  # eager: the reference's top-k (the comparisons would be materialised)
        idx = key.topk(keep, dim=1, largest=False, sorted=False).indices.sort(dim=1).values
    gather_idx = idx[..., None].expand(-1, -1, dim)
    h_sel, x_sel = h.gather(1, gather_idx), x.gather(1, gather_idx)
    lin = torch.nn.functional.linear
    q = lin(x_sel, w["q"], w["q_bias"]).view(bsz, keep, heads, head_dim).transpose(1, 2)
    k = lin(x, w["k"], w["k_bias"]).view(bsz, q_len, kv_heads, head_dim).transpose(1, 2)
    v = lin(x, w["v"], w["v_bias"]).view(bsz, q_len, kv_heads, head_dim).transpose(1, 2)
    q = rope_rows(q, cos, sin, idx)
    k = rope(k, cos, sin)
    if splits > 1:
        return (idx, h_sel, q, k, v, *split_block_indices(idx, q_len, BLOCK, splits))
    return (idx, h_sel, q, k, v, *block_indices(idx, q_len, BLOCK))


def kv_splits(bsz: int, q_len: int) -> int:
    """``FLEX_KV_SPLITS`` where it applies (batch 1, whole blocks per chunk), else 1."""
    s = FLEX_KV_SPLITS
    return s if s > 1 and bsz == 1 and q_len % (s * BLOCK) == 0 else 1


def split_keys(t: torch.Tensor, splits: int) -> torch.Tensor:
    """``[B, H, T, D]`` -> ``[S * B, H, T / S, D]``, chunk-major (a view at batch 1)."""
    bsz, heads, t_len, dim = t.shape
    chunks = t.unflatten(2, (splits, t_len // splits)).permute(2, 0, 1, 3, 4)
    return chunks.reshape(splits * bsz, heads, t_len // splits, dim)


def merge_splits(out: torch.Tensor, lse: torch.Tensor, splits: int) -> torch.Tensor:
    """Combine per-chunk attention ``[S * B, H, Q, D]`` by its log-sum-exp ``[S * B, H, Q]``.

    A chunk that a query sees nothing of has lse = -inf and weight 0; chunk 0 holds key 0,
    which every query sees, so each query's largest lse is finite.
    """
    out = out.unflatten(0, (splits, -1)).float()
    lse = lse.unflatten(0, (splits, -1)).float()
    weight = torch.exp(lse - lse.amax(dim=0, keepdim=True))
    num = torch.where(weight[..., None] > 0, out * weight[..., None], 0.0).sum(dim=0)
    return num / weight.sum(dim=0)[..., None]


def attend_and_finish(
    h: torch.Tensor,
    idx: torch.Tensor,
    h_sel: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: Any,
    w: dict[str, Any],
    scaling: float,
) -> torch.Tensor:
    """Region 2: attention of the selected queries, o_proj, the layer's tail, scatter back."""
    from torch.nn.attention.flex_attention import flex_attention

    bsz, heads, n_sel, head_dim = q.shape
    q_pad, kv_pad = mask.seq_lengths  # kv_pad: one key chunk's length when split
    q = torch.nn.functional.pad(q, (0, 0, 0, q_pad - n_sel))
    gqa = k.shape[1] != heads
    options = FLEX_KERNEL_OPTIONS or None
    splits = mask.kv_num_blocks.shape[0] // bsz
    if splits > 1:  # kv_splits() splits only into whole blocks: no key padding
        q = q.repeat(splits, 1, 1, 1)
        k, v = split_keys(k, splits), split_keys(v, splits)
        part, lse = flex_attention(
            q,
            k,
            v,
            block_mask=mask,
            scale=scaling,
            enable_gqa=gqa,
            kernel_options=options,
            return_lse=True,
        )
        out = merge_splits(part, lse, splits).to(h_sel.dtype)
    else:
        k = torch.nn.functional.pad(k, (0, 0, 0, kv_pad - k.shape[2]))
        v = torch.nn.functional.pad(v, (0, 0, 0, kv_pad - v.shape[2]))
        out = flex_attention(
            q, k, v, block_mask=mask, scale=scaling, enable_gqa=gqa, kernel_options=options
        )
    out = out[:, :, :n_sel].transpose(1, 2).reshape(bsz, n_sel, heads * head_dim)
    lin = torch.nn.functional.linear
    mid = h_sel + lin(out, w["o"], w["o_bias"])
    x = rms_norm(mid, w["post_norm"], w["post_eps"])
    new = mid + lin(silu_mul(lin(x, w["gate"]), lin(x, w["up"])), w["down"])
    gather_idx = idx[..., None].expand(-1, -1, h.shape[-1])
    return h.scatter(1, gather_idx, new.to(h.dtype))


def layer_weights(layer: Any) -> dict[str, Any]:
    """The layer's weights as region inputs (so every layer shares one compiled graph)."""
    attn, mlp = layer.self_attn, layer.mlp
    return {
        "in_norm": layer.input_layernorm.weight,
        "in_eps": float(layer.input_layernorm.variance_epsilon),
        "q": attn.q_proj.weight,
        "q_bias": attn.q_proj.bias,
        "k": attn.k_proj.weight,
        "k_bias": attn.k_proj.bias,
        "v": attn.v_proj.weight,
        "v_bias": attn.v_proj.bias,
        "o": attn.o_proj.weight,
        "o_bias": attn.o_proj.bias,
        "post_norm": layer.post_attention_layernorm.weight,
        "post_eps": float(layer.post_attention_layernorm.variance_epsilon),
        "gate": mlp.gate_proj.weight,
        "up": mlp.up_proj.weight,
        "down": mlp.down_proj.weight,
    }


def fused_covers(layer: Any, settings: Selective) -> bool:
    """Llama-style attention (no q/k norm) and tail, an order-based score, no MLP biases
    (on top of the prefill conditions of ``flex_covers``, which the dispatch checks first)."""
    attn, mlp = layer.self_attn, layer.mlp
    norm = getattr(layer, "input_layernorm", None)
    return (
        fusable_tail(layer)
        and settings.score in ("orthogonality", "reverse")
        and getattr(attn, "q_norm", None) is None
        and type(norm).__name__.endswith("RMSNorm")
        and hasattr(norm, "variance_epsilon")
        and all(getattr(mlp, n).bias is None for n in ("gate_proj", "up_proj", "down_proj"))
    )


def one_region(
    h: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    w: dict[str, Any],
    shape: tuple[int, bool, int, int, int, int],
    scaling: float,
) -> torch.Tensor:
    """Regions 1 and 2 with the BlockMask between them as one function (``FUSED_REGIONS = 1``);
    ``shape`` is region 1's (keep, reverse, heads, kv_heads, head_dim, splits)."""
    idx, h_sel, q, k, v, rows_p, *blocks = select_and_project(h, cos, sin, w, *shape)
    mask = assemble_block_mask(rows_p, blocks, BLOCK)
    return attend_and_finish(h, idx, h_sel, q, k, v, mask, w, scaling)


def fused_forward(
    layer: Any,
    settings: Selective,
    hidden_states: torch.Tensor,
    position_embeddings: Any = None,
    **kwargs: Any,
) -> torch.Tensor:
    """The selective forward as two compiled regions (or ``one_region``), for calls
    ``fused_covers`` accepts."""
    attn, dev = layer.self_attn, hidden_states.device
    cfg = attn.config
    heads = cfg.num_attention_heads
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    bsz, q_len = hidden_states.shape[:2]
    keep = keep_count(settings.keep_ratio, q_len)
    shape = (
        keep,
        settings.score == "reverse",
        heads,
        kv_heads,
        attn.head_dim,
        kv_splits(bsz, q_len),
    )
    w = layer_weights(layer)
    cos, sin = position_embeddings
    if FUSED_REGIONS == 1:
        return compiled("select_finish", one_region, dev)(
            hidden_states, cos, sin, w, shape, attn.scaling
        )
    idx, h_sel, q, k, v, rows_p, *blocks = compiled("select", select_and_project, dev)(
        hidden_states, cos, sin, w, *shape
    )
    mask = assemble_block_mask(rows_p, blocks, BLOCK)
    return compiled("finish", attend_and_finish, dev)(
        hidden_states, idx, h_sel, q, k, v, mask, w, attn.scaling
    )
