"""OrthoRank against a plain reference written here from the layers' weights.

The reference runs one unpadded sequence at a time, token by token: RMSNorm, projections,
rotary embedding, an explicit causal softmax over the keys of all tokens, o_proj, norms and the
MLP, all written out. Only the model's embedding table, its rotary cos/sin tables, the final
norm and the LM head are taken from the model (they are not part of what OrthoRank changes).
The fast path runs padded batches; real tokens must match the reference per sequence.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from methods.base import ApplyContext  # noqa: E402
from methods.orthorank import OrthoRank, OrthoRankConfig  # noqa: E402
from tests.tiny import VOCAB, tiny_model  # noqa: E402

ATOL = 1e-5


# ------------------------------------------------------------------------------ the reference


def _is_gemma(model) -> bool:
    return model.config.model_type.startswith("gemma3")


def rms(x, norm, gemma: bool):
    eps = getattr(norm, "variance_epsilon", None) or norm.eps
    y = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y * (1.0 + norm.weight) if gemma else y * norm.weight


def _act(name: str, x):
    if name == "silu":
        return x * torch.sigmoid(x)
    assert name == "gelu_pytorch_tanh", name
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _linear(module, x):
    y = x @ module.weight.T
    return y + module.bias if module.bias is not None else y


def _rot(x, cos, sin):
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), -1) * sin


def reference_select(x, keep_ratio: float, score: str = "orthogonality", prefix: int | None = None):
    """Selected token indices of one sequence (rows of ``x``); sink = token 0.

    Tokens at or after ``prefix`` (decoded one at a time) are always selected and do not take
    part in the ranking.
    """
    total = x.shape[0] if prefix is None else prefix
    k = math.ceil(keep_ratio * total - 1e-9)
    if k >= total:
        chosen = set(range(total))
    else:
        sink = x[0]
        scores = []
        for i in range(1, total):
            cos = float(torch.dot(x[i], sink) / (torch.linalg.norm(x[i]) * torch.linalg.norm(sink)))
            scores.append((-abs(cos) if score == "reverse" else abs(cos), i))
        chosen = {i for _, i in sorted(scores)[:k]}
    return chosen | set(range(total, x.shape[0]))


def reference_layer(model, layer, h, cos, sin, selected, unselected_kv=True):
    """One decoder layer on an unpadded ``[T, D]`` sequence; ``selected=None`` means dense."""
    gemma = _is_gemma(model)
    cfg = model.config
    attn = layer.self_attn
    T = h.shape[0]
    hd = attn.head_dim
    n_heads = cfg.num_attention_heads
    groups = n_heads // cfg.num_key_value_heads
    window = (
        attn.sliding_window
        if hasattr(attn, "sliding_window")
        else getattr(cfg, "sliding_window", None)
    )
    act = getattr(cfg, "hidden_activation", None) or cfg.hidden_act
    x = rms(h, layer.input_layernorm, gemma)
    q = _linear(attn.q_proj, x).view(T, n_heads, hd)
    k = _linear(attn.k_proj, x).view(T, -1, hd)
    v = _linear(attn.v_proj, x).view(T, -1, hd)
    if hasattr(attn, "q_norm"):
        q = rms(q, attn.q_norm, gemma)
        k = rms(k, attn.k_norm, gemma)
    q = _rot(q, cos[:, None], sin[:, None])
    k = _rot(k, cos[:, None], sin[:, None])
    chosen = set(range(T)) if selected is None else selected
    out = h.clone()
    for i in sorted(chosen):
        keys = [j for j in range(i + 1) if (window is None or i - j < window)]
        if not unselected_kv:
            keys = [j for j in keys if j in chosen]
        heads = []
        for hh in range(n_heads):
            g = hh // groups
            logits = torch.stack([torch.dot(q[i, hh], k[j, g]) for j in keys]) * attn.scaling
            p = torch.softmax(logits, dim=0)
            heads.append(sum(p[n] * v[j, g] for n, j in enumerate(keys)))
        o = _linear(attn.o_proj, torch.cat(heads))
        mlp = layer.mlp
        if gemma:
            h1 = h[i] + rms(o, layer.post_attention_layernorm, gemma)
            z = rms(h1, layer.pre_feedforward_layernorm, gemma)
        else:
            h1 = h[i] + o
            z = rms(h1, layer.post_attention_layernorm, gemma)
        m = _linear(mlp.down_proj, _act(act, _linear(mlp.gate_proj, z)) * _linear(mlp.up_proj, z))
        if gemma:
            m = rms(m, layer.post_feedforward_layernorm, gemma)
        out[i] = h1 + m
    return out


def reference_logits(
    model, ids, selective, keep_ratio, *, score="orthogonality", unselected_kv=True, prefix=None
):
    """Logits ``[T, V]`` of one unpadded sequence with ``selective`` layers made token-selective."""
    inner = model.model
    h = inner.embed_tokens(ids[None])[0]
    pos = torch.arange(ids.shape[0])[None]
    for li, layer in enumerate(inner.layers):
        if _is_gemma(model):
            cos, sin = inner.rotary_emb(h[None], pos, model.config.layer_types[li])
        else:
            cos, sin = inner.rotary_emb(h[None], pos)
        chosen = None
        if li in selective:
            x = rms(h, layer.input_layernorm, _is_gemma(model))
            chosen = reference_select(x, keep_ratio, score, prefix)
        h = reference_layer(model, layer, h, cos[0], sin[0], chosen, unselected_kv)
    return model.lm_head(inner.norm(h[None]))[0]


# ------------------------------------------------------------------------------ helpers


def distinct_ids(lengths, seed=0):
    """Sequences without repeated tokens (so no two embeddings tie in the ranking)."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randperm(VOCAB - 4, generator=gen)[:n] + 4 for n in lengths]


def pad_batch(seqs, side: str):
    T = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), T, dtype=torch.long)
    mask = torch.zeros(len(seqs), T, dtype=torch.long)
    for b, s in enumerate(seqs):
        sl = slice(T - len(s), T) if side == "left" else slice(0, len(s))
        ids[b, sl] = s
        mask[b, sl] = 1
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    return ids, mask, positions


def real_rows(logits, mask, b):
    return logits[b][mask[b].bool()]


def orthorank_model(model_type, layers, keep_ratio, num_layers=4, impl="eager", **params):
    model = tiny_model(model_type, num_layers)
    model.config._attn_implementation = impl
    config = OrthoRankConfig(keep_ratio=keep_ratio, layers=layers, **params)
    outcome = OrthoRank(config).apply(model, ApplyContext())
    return outcome.model


# ------------------------------------------------------------------------------ tests


CASES = [
    ("llama", "0,2,3", 4),
    ("qwen2", "0,1,3", 4),
    ("qwen3", "1,2", 4),
    ("gemma3_text", "0,2,5", 6),
]


@pytest.mark.parametrize("model_type,layers,num_layers", CASES)
@pytest.mark.parametrize("keep_ratio", [0.33, 0.8])
@pytest.mark.parametrize("side", ["left", "right"])
def test_fast_path_equals_plain_reference(model_type, layers, num_layers, keep_ratio, side):
    torch.manual_seed(0)
    model = orthorank_model(model_type, layers, keep_ratio, num_layers)
    selective = {int(i) for i in layers.split(",")}
    seqs = distinct_ids([21, 14, 7])  # longer than Gemma's 16-token sliding window
    ids, mask, positions = pad_batch(seqs, side)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        for b, seq in enumerate(seqs):
            ref = reference_logits(model, seq, selective, keep_ratio)
            got = real_rows(logits, mask, b)
            assert (got - ref).abs().max() < ATOL, (model_type, keep_ratio, side, b)


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("score", ["orthogonality", "reverse"])
def test_reference_with_sdpa_masks_and_reverse_score(impl, score):
    model = orthorank_model("llama", "1,2", 0.4, impl=impl, score=score)
    seqs = distinct_ids([19, 19, 11], seed=3)
    with torch.no_grad():
        for side in ("left", "right"):
            ids, mask, positions = pad_batch(seqs, side)
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
            for b, seq in enumerate(seqs):
                ref = reference_logits(model, seq, {1, 2}, 0.4, score=score)
                assert (real_rows(logits, mask, b) - ref).abs().max() < ATOL
        ids = torch.stack(seqs[:2])  # no padding: sdpa passes no mask at all
        logits = model(input_ids=ids).logits
        ref = reference_logits(model, seqs[0], {1, 2}, 0.4, score=score)
        assert (logits[0] - ref).abs().max() < ATOL


def test_unselected_kv_false_matches_reference():
    model = orthorank_model("qwen2", "1,3", 0.5, unselected_kv=False)
    seqs = distinct_ids([17, 9], seed=5)
    ids, mask, positions = pad_batch(seqs, "left")
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        for b, seq in enumerate(seqs):
            ref = reference_logits(model, seq, {1, 3}, 0.5, unselected_kv=False)
            assert (real_rows(logits, mask, b) - ref).abs().max() < ATOL


@pytest.mark.parametrize(
    "model_type,layers,num_layers", [("llama", "1,2", 4), ("gemma3_text", "1,5", 6)]
)
def test_decoding_with_cache_matches_reference(model_type, layers, num_layers):
    """Decoded tokens are always updated and attend to the K/V the prefill cached for all tokens."""
    from transformers import DynamicCache

    model = orthorank_model(model_type, layers, 0.33, num_layers)
    selective = {int(i) for i in layers.split(",")}
    seq = distinct_ids([20], seed=7)[0]
    prefix = 17
    with torch.no_grad():
        cache = DynamicCache(config=model.config)
        out = model(input_ids=seq[None, :prefix], past_key_values=cache, use_cache=True)
        steps = [out.logits[0]]
        for t in range(prefix, len(seq)):
            out = model(input_ids=seq[None, t : t + 1], past_key_values=cache, use_cache=True)
            steps.append(out.logits[0])
        got = torch.cat(steps)
        ref = reference_logits(model, seq, selective, 0.33, prefix=prefix)
    assert (got - ref).abs().max() < ATOL
