"""Sublayer dropping: a hand-built model without the dropped sublayers, the KV cache, generation."""

from __future__ import annotations

import copy

import pytest
import torch

from methods.layers import decoder_layers
from methods.sublayers import drop_sublayers, layer_without, parse_sublayer
from skipbench.errors import InvalidInput
from tests.tiny import tiny_model

ARCHS = ["llama", "qwen2", "gemma3_text"]


def zeroed(model, names):
    """The independent reference: a copy whose dropped sublayers add exactly zero to the
    residual (output projection zeroed), run by the unmodified Hugging Face forward."""
    ref = copy.deepcopy(model)
    layers = decoder_layers(ref)
    for name in names:
        kind, i = name.split(".")
        layer = layers[int(i)]
        module = layer.self_attn.o_proj if kind == "attn" else layer.mlp.down_proj
        module.weight.data.zero_()
        if getattr(module, "bias", None) is not None:
            module.bias.data.zero_()
    return ref


def greedy_no_cache(model, ids, steps):
    """Eager reference decoding: the whole sequence again at every step, no cache."""
    seq = ids
    for _ in range(steps):
        with torch.no_grad():
            nxt = model(seq, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
        seq = torch.cat([seq, nxt], dim=1)
    return seq


CASES = [
    ["attn.0", "attn.3"],  # the first attention too: its MLP joins the next group
    ["mlp.1", "mlp.4"],
    ["attn.2", "mlp.2"],  # a whole layer
    ["attn.5", "mlp.0", "attn.1", "attn.4"],  # the last attention, mixed
]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("names", CASES, ids=["attn", "mlp", "block", "mixed"])
def test_dropped_model_equals_the_hand_built_one(arch, names):
    model = tiny_model(arch, num_layers=6)
    ids = torch.randint(3, 90, (2, 24))
    ref = zeroed(model, names)
    details = drop_sublayers(model, names, 0.1, 0.1)
    with torch.no_grad():
        got, want = model(ids).logits, ref(ids).logits
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)
    assert details["removed_sublayers"] == names
    n_attn = sum(n.startswith("attn") for n in names)
    assert len(decoder_layers(model)) == 6 - n_attn
    assert model.config.num_hidden_layers == 6 - n_attn


@pytest.mark.parametrize("arch", ARCHS)
def test_dropped_attention_has_no_cache_entry_and_generation_matches_eager(arch):
    model = tiny_model(arch, num_layers=6)
    names = ["attn.0", "attn.2", "mlp.3", "attn.4"]
    ref = zeroed(model, names)
    details = drop_sublayers(model, names, 0.5, 0.5)
    prompt = torch.randint(3, 90, (1, 12))
    with torch.no_grad():
        out = model(prompt, use_cache=True)
    cache = out.past_key_values
    assert len(cache.layers) == 3  # one per kept attention, remapped 0..2
    assert all(layer.keys is not None and layer.keys.shape[-2] > 0 for layer in cache.layers)
    attn_slots = sorted(
        m.layer_idx for m in model.modules() if type(m).__name__.endswith("Attention")
    )
    assert attn_slots == [0, 1, 2]
    kv = details["kv_cache"]
    assert kv["bytes_per_token_saved"] == 3 * kv["bytes_per_token_dense"] // 6
    # 12 prompt + 10 new tokens: past Gemma's 16-token sliding window
    generated = model.generate(prompt, max_new_tokens=10, do_sample=False, min_new_tokens=10)
    assert torch.equal(generated, greedy_no_cache(model, prompt, 10))
    assert torch.equal(generated, greedy_no_cache(ref, prompt, 10))
    # cached step-by-step logits equal the full forward's
    seq = generated
    with torch.no_grad():
        full = model(seq, use_cache=False).logits
        step = model(seq[:, :14], use_cache=True)
        cache, logits = step.past_key_values, [step.logits]
        for t in range(14, seq.shape[1]):
            step = model(seq[:, t : t + 1], past_key_values=cache, use_cache=True)
            cache = step.past_key_values
            logits.append(step.logits)
    assert torch.allclose(torch.cat(logits, 1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_dropping_nothing_is_the_dense_model_exactly(arch):
    model = tiny_model(arch, num_layers=4)
    ids = torch.randint(3, 90, (1, 16))
    with torch.no_grad():
        dense = model(ids).logits
    before = list(decoder_layers(model))
    details = drop_sublayers(model, [], 0.0, 0.0)
    assert list(decoder_layers(model)) == before
    with torch.no_grad():
        assert torch.equal(model(ids).logits, dense)
    assert details["sparsity"]["param_fraction_removed"] == 0.0


@pytest.mark.parametrize("arch", ARCHS)
def test_full_stack_equals_the_layer(arch):
    """A layer rebuilt from its own two sublayers computes what the layer does."""
    model = tiny_model(arch, num_layers=2)
    ids = torch.randint(3, 90, (1, 16))
    with torch.no_grad():
        dense = model(ids).logits
        layers = decoder_layers(model)
        originals = list(layers)
        for i, layer in enumerate(originals):
            layers[i] = layer_without(i, layer, [])
        rebuilt = model(ids).logits
    assert torch.allclose(rebuilt, dense, atol=1e-6, rtol=1e-6)


def test_parameters_and_sparsity_are_counted():
    model = tiny_model("llama", num_layers=4)
    total = sum(p.numel() for p in model.parameters())
    layer = decoder_layers(model)[1]
    attn = (
        sum(p.numel() for p in layer.self_attn.parameters()) + layer.input_layernorm.weight.numel()
    )
    details = drop_sublayers(model, ["attn.1"], 0.25, 0.25)
    assert details["sparsity"]["param_fraction_removed"] == pytest.approx(attn / total)
    assert details["sparsity"]["sublayer_fraction_removed"] == pytest.approx(1 / 8)
    assert sum(p.numel() for p in model.parameters()) == total - attn


def test_bad_sublayers_are_refused_in_one_line():
    model = tiny_model("llama", num_layers=3)
    for bad, match in [
        (["attn.3"], "attn.<i> or mlp.<i> with i in 0..2"),
        (["ffn.1"], "attn.<i> or mlp.<i>"),
        (["mlp.1", "mlp.1"], "twice"),
        (["attn.0", "attn.1", "attn.2"], "every attention"),
    ]:
        with pytest.raises(InvalidInput, match=match) as err:
            drop_sublayers(model, bad, 0.1, 0.1)
        assert "\n" not in str(err.value)
    assert parse_sublayer("mlp.2", 3) == ("mlp", 2)
