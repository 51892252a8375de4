"""LLM-Drop: scores against a plain per-layer reference, one-shot order, details, bad input."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from methods.base import ApplyContext
from methods.layers import decoder_layers
from methods.llm_drop import LLMDrop, LLMDropConfig, drop_order, sublayer_similarities
from skipbench.errors import InvalidInput
from tests.methods.test_sublayers import greedy_no_cache, zeroed
from tests.tiny import tiny_model

ARCHS = ["llama", "qwen2", "gemma3_text"]


def raw_hidden_states(model, ids):
    """Inputs of every layer and the last layer's raw output (final norm made an identity)."""
    m = copy.deepcopy(model)
    m.model.norm = torch.nn.Identity()
    with torch.no_grad():
        return m(ids, output_hidden_states=True).hidden_states


def mean_cos(a, b):
    return (
        torch.nn.functional.cosine_similarity(a.flatten(0, 1), b.flatten(0, 1), dim=-1)
        .mean()
        .item()
    )


def reference_similarities(model, calib):
    """Plain loop: X_i from the dense model; X_i + attn_i(X_i) from a copy whose MLP i adds nothing."""
    L = len(decoder_layers(model))
    hs = raw_hidden_states(model, calib)
    out = {"attn": [], "mlp": [], "block": []}
    for i in range(L):
        mid = raw_hidden_states(zeroed(model, [f"mlp.{i}"]), calib)[i + 1]
        out["attn"].append(mean_cos(hs[i], mid))
        out["mlp"].append(mean_cos(mid, hs[i + 1]))
        out["block"].append(mean_cos(hs[i], hs[i + 1]))
    return out


@pytest.mark.parametrize("arch", ARCHS)
def test_similarities_match_the_plain_reference(arch):
    model = tiny_model(arch, num_layers=5)
    calib = torch.randint(3, 90, (3, 16))
    got = sublayer_similarities(model, calib)
    want = reference_similarities(model, calib)
    for key in ("attn", "mlp", "block"):
        assert got[key] == pytest.approx(want[key], abs=1e-5), key


@pytest.mark.parametrize("target", ["attn", "mlp", "block", "joint"])
def test_apply_drops_the_most_similar_units_in_one_shot(target):
    model = tiny_model("qwen2", num_layers=6)
    calib = torch.randint(3, 90, (2, 16))
    sims = reference_similarities(model, calib)
    ref = copy.deepcopy(model)
    method = LLMDrop(LLMDropConfig(sparsity=0.3, target=target))
    outcome = method.apply(model, ApplyContext(calibration=calib))
    d = outcome.details
    units = 12 if target == "joint" else 6
    n = math.ceil(0.3 * units)
    if target == "joint":
        pool = [(sims[k][i], f"{k}.{i}") for k in ("attn", "mlp") for i in range(6)]
        expected = [name for _, name in sorted(pool, key=lambda p: -p[0])[:n]]
    else:
        key = "block" if target == "block" else target
        top = sorted(range(6), key=lambda i: -sims[key][i])[:n]
        kinds = ["attn", "mlp"] if target == "block" else [target]
        expected = [f"{k}.{i}" for i in top for k in kinds]
    assert d["removed_sublayers"] == expected
    assert d["sparsity"]["realized"] == pytest.approx(n / units)
    assert d["sparsity"]["nominal"] == 0.3
    if target == "block":
        assert d["removed_layers"] == top
    ids = torch.randint(3, 90, (1, 20))
    with torch.no_grad():
        got = outcome.model(ids).logits
        want = zeroed(ref, expected)(ids).logits
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)


def test_drop_order_ties_go_attention_first_then_lower_index():
    sims = {"attn": [0.9, 0.5, 0.9], "mlp": [0.9, 0.1, 0.2], "block": [0.0, 0.0, 0.0]}
    assert drop_order(sims, "joint", 4) == ["attn.0", "attn.2", "mlp.0", "attn.1"]
    assert drop_order(sims, "attn", 2) == ["attn.0", "attn.2"]
    assert drop_order(sims, "block", 2) == ["attn.0", "mlp.0", "attn.1", "mlp.1"]


def test_dropping_nothing_equals_dense_exactly():
    model = tiny_model("gemma3_text", num_layers=4)
    ids = torch.randint(3, 90, (1, 16))
    with torch.no_grad():
        dense = model(ids).logits
    outcome = LLMDrop(LLMDropConfig(num_layers=0)).apply(
        model, ApplyContext(calibration=torch.randint(3, 90, (1, 8)))
    )
    with torch.no_grad():
        assert torch.equal(outcome.model(ids).logits, dense)
    assert outcome.details["removed_sublayers"] == []


def test_bad_parameters_are_refused_in_one_line():
    for params, match in [
        ({"target": "heads"}, "target='heads' is not allowed; allowed: attn, mlp, block, joint"),
        ({"sparsity": "1.0"}, "sparsity=1.0 is outside"),
        ({"calib_samples": "0"}, "calib_samples=0"),
    ]:
        with pytest.raises(InvalidInput, match=match):
            LLMDropConfig.from_params(params)
    with pytest.raises(InvalidInput, match="smaller than the model's 8 joint units"):
        LLMDrop(LLMDropConfig(num_layers=8, target="joint")).validate_for(4)
    LLMDrop(LLMDropConfig(num_layers=7, target="joint")).validate_for(4)
    with pytest.raises(InvalidInput, match="smaller than the model's 4 attn units"):
        LLMDrop(LLMDropConfig(num_layers=4)).validate_for(4)


@pytest.mark.slow
def test_smollm2_attention_drop_keeps_a_working_model(smollm2_dir, shared_data_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.calibration import calibration_ids
    from methods.base import CalibrationSpec

    tokenizer = AutoTokenizer.from_pretrained(str(smollm2_dir))
    model = AutoModelForCausalLM.from_pretrained(str(smollm2_dir), dtype=torch.float32).eval()
    calib, _ = calibration_ids(CalibrationSpec("c4", 2, 256, 0), tokenizer, "local")
    ref = copy.deepcopy(model)
    outcome = LLMDrop(LLMDropConfig(sparsity=0.3)).apply(model, ApplyContext(calibration=calib))
    d = outcome.details
    assert len(d["removed_sublayers"]) == 9 and len(decoder_layers(model)) == 21
    assert d["kv_cache"]["bytes_per_token_saved"] == 9 * 2 * 3 * 64 * 4
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        got = outcome.model(ids).logits
        want = zeroed(ref, d["removed_sublayers"])(ids).logits
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)
    generated = outcome.model.generate(ids, max_new_tokens=8, do_sample=False)
    steps = generated.shape[1] - ids.shape[1]  # greedy may stop early at the end-of-turn token
    assert steps >= 1 and torch.equal(generated, greedy_no_cache(outcome.model, ids, steps))
    seq = calib[:1, :48]  # a 21-slot cache, filled step by step, gives the full forward's logits
    with torch.no_grad():
        full = outcome.model(seq, use_cache=False).logits
        step = outcome.model(seq[:, :16], use_cache=True)
        cache, logits = step.past_key_values, [step.logits]
        for t in range(16, seq.shape[1]):
            step = outcome.model(seq[:, t : t + 1], past_key_values=cache, use_cache=True)
            cache = step.past_key_values
            logits.append(step.logits)
    assert len(cache.layers) == 21
    stepped = torch.cat(logits, 1)  # SDPA on 1 vs 48 queries rounds differently in float32
    assert (stepped - full).abs().max() < 2e-3 * full.abs().max()
    assert torch.equal(stepped.argmax(-1), full.argmax(-1))
