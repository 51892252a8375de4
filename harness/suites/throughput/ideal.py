"""The ideal speedup a method's speed figures are judged against, stored beside them.

- Prefill: ``1 / (1 - realized FLOP sparsity)``. Where the method changed the model's structure
  (layers or sublayers removed) the FLOPs are counted on both models (every ``nn.Linear`` of
  the decoder layers per token, causal attention per query-key pair, the LM head on the one
  position prefill keeps). Where the structure is unchanged (OrthoRank's token selection) the
  method's own realized FLOP sparsity (``details["sparsity"]["realized"]``) is used.
- Decode at batch 1: the ratio of weight bytes read per token (every parameter once, the input
  embedding aside: a lookup reads one row), dense over the method. A method whose decode is
  dense by construction (``details["decode_equals_dense"]``: OrthoRank selects the one new
  token every step) has ideal and speedup 1.0.
"""

from __future__ import annotations

from typing import Any

from methods.layers import decoder_layers


def _linears_and_attentions(layer: Any) -> tuple[list[Any], list[Any]]:
    import torch.nn as nn

    linears = [m for m in layer.modules() if isinstance(m, nn.Linear)]
    attns = [m for m in layer.modules() if hasattr(m, "q_proj") and hasattr(m, "k_proj")]
    return linears, attns


def prefill_flops(model: Any, seq_len: int) -> float:
    """Matmul FLOPs of one ``seq_len`` prefill (logits of the last position only)."""
    total = 0.0
    for layer in decoder_layers(model):
        linears, attns = _linears_and_attentions(layer)
        total += seq_len * sum(2.0 * m.in_features * m.out_features for m in linears)
        # QK^T and AV: 2 x 2 x (heads x head_dim) per causal (query, key) pair
        total += sum(4.0 * a.q_proj.out_features * seq_len * (seq_len + 1) / 2 for a in attns)
    head = model.get_output_embeddings()
    if head is not None:
        total += 2.0 * head.weight.numel()
    return total


def realized_sparsity(details: Any) -> float | None:
    sparsity = details.get("sparsity") if isinstance(details, dict) else None
    value = sparsity.get("realized") if isinstance(sparsity, dict) else None
    return float(value) if isinstance(value, (int, float)) and 0 <= value < 1 else None


def prefill_ideal(dense: Any, method: Any, details: Any, seq_len: int) -> tuple[float | None, str]:
    """(ideal prefill speedup or None, what it was counted from)."""
    ratio = prefill_flops(dense, seq_len) / prefill_flops(method, seq_len)
    if abs(ratio - 1.0) > 1e-9:
        return ratio, "FLOPs counted on both models"
    realized = realized_sparsity(details)
    if realized is not None and realized > 0:
        return 1.0 / (1.0 - realized), "the method's realized FLOP sparsity"
    return (1.0, "same structure, no sparsity reported") if realized == 0 else (None, "unknown")


def bytes_read_per_token(model: Any) -> int:
    """Weight bytes one decode step reads: each parameter once, the input embedding aside."""
    params = {id(p): p for p in model.parameters()}
    emb = model.get_input_embeddings()
    head = model.get_output_embeddings()
    if emb is not None and (head is None or head.weight is not emb.weight):
        params.pop(id(emb.weight), None)
    return sum(p.numel() * p.element_size() for p in params.values())


def decode_equals_dense(details: Any) -> bool:
    return isinstance(details, dict) and details.get("decode_equals_dense") is True


def decode_ideal(dense: Any, method: Any, details: Any) -> float:
    """Ideal batch-1 decode speedup: 1.0 when decode is dense by construction, else the
    weight-bytes ratio."""
    if decode_equals_dense(details):
        return 1.0
    return bytes_read_per_token(dense) / bytes_read_per_token(method)
