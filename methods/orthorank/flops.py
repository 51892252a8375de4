"""The FLOP count OrthoRank's details report (torch-free: it reads only the model config)."""

from __future__ import annotations

from typing import Any


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
