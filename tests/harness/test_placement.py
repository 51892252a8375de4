"""A model spread over devices by accelerate, on the CPU: hooks attached by ``dispatch_model``
(``force_hooks``: every module an execution device of its own, as on several GPUs), layer
removal and OrthoRank keeping them, provenance of the device map, and timing every device."""

from __future__ import annotations

import copy

import pytest
import torch

from harness import placement, provenance
from methods.layers import decoder_layers, remove_layers
from methods.orthorank.dispatch import make_dense, make_selective
from methods.orthorank.selection import Selective
from skipbench.errors import InvalidInput
from tests.tiny import tiny_model

LAYERS = 6


def per_module_map(num_layers: int = LAYERS) -> dict[str, str]:
    return {
        "model.embed_tokens": "cpu",
        "model.rotary_emb": "cpu",
        **{f"model.layers.{i}": "cpu" for i in range(num_layers)},
        "model.norm": "cpu",
        "lm_head": "cpu",
    }


def dispatched_pair():
    """(undispatched reference, the same weights dispatched module by module)."""
    from accelerate import dispatch_model

    ref = tiny_model(num_layers=LAYERS, seed=3).eval()
    model = dispatch_model(copy.deepcopy(ref), device_map=per_module_map(), force_hooks=True)
    model.hf_device_map = per_module_map()
    return ref, model


IDS = torch.tensor([[1, 5, 9, 17, 33, 41, 7, 3, 60, 11]])


def logits(model):
    with torch.no_grad():
        return model(input_ids=IDS).logits


def test_dispatched_model_computes_what_the_undispatched_one_does():
    ref, model = dispatched_pair()
    assert all(hasattr(layer, "_hf_hook") for layer in decoder_layers(model))
    assert torch.equal(logits(ref), logits(model))


def test_layer_removal_keeps_each_layers_hook_and_renumbers_the_device_map():
    ref, model = dispatched_pair()
    layers = decoder_layers(model)
    kept = [layers[i] for i in (0, 3, 4, 5)]
    hooks = [layer._hf_hook for layer in kept]
    remove_layers(model, [1, 2])
    remove_layers(ref, [1, 2])
    now = decoder_layers(model)
    assert [id(layer) for layer in now] == [id(layer) for layer in kept]
    assert [layer._hf_hook for layer in now] == hooks  # each layer stays where it was placed
    assert [layer.self_attn.layer_idx for layer in now] == [0, 1, 2, 3]
    assert list(model.hf_device_map) == list(per_module_map(4))
    assert torch.equal(logits(ref), logits(model))


def test_device_map_renumbering_follows_the_kept_layers():
    model = tiny_model(num_layers=LAYERS)
    model.hf_device_map = {
        "model.embed_tokens": 0,
        **{f"model.layers.{i}": i // 3 for i in range(LAYERS)},
        "model.layers.5.mlp": 1,  # a split layer's submodule follows its layer
        "model.norm": 1,
        "lm_head": 1,
    }
    remove_layers(model, [0, 4])
    assert model.hf_device_map == {
        "model.embed_tokens": 0,
        "model.layers.0": 0,
        "model.layers.1": 0,
        "model.layers.2": 1,
        "model.layers.3": 1,
        "model.layers.3.mlp": 1,
        "model.norm": 1,
        "lm_head": 1,
    }


def test_orthorank_on_a_dispatched_layer_keeps_the_hook_and_equals_the_undispatched():
    ref, model = dispatched_pair()
    layer = decoder_layers(model)[3]
    hooked_forward = layer.forward
    for m in (ref, model):
        make_selective(decoder_layers(m)[3], Selective(keep_ratio=0.5))
    assert layer.forward is hooked_forward  # accelerate still moves the inputs first
    assert layer._old_forward.__func__.__name__ == "_selective_method"
    selective = logits(model)
    assert torch.equal(logits(ref), selective)
    for m in (ref, model):
        make_dense(decoder_layers(m)[3])
    assert layer.forward is hooked_forward
    assert torch.equal(logits(ref), logits(model))
    assert not torch.equal(selective, logits(model))  # it was selective, now dense again


def test_provenance_records_the_device_map_merged_by_device():
    _ref, model = dispatched_pair()
    facts = provenance.collect("cpu", model)
    assert facts["device_map"] == {"model.embed_tokens..lm_head": "cpu"}
    assert facts["devices"] == ["cpu"]
    assert "device_map" not in provenance.collect("cpu", tiny_model())
    model.hf_device_map = {
        "model.embed_tokens": 0,
        "model.layers.0": 0,
        "model.layers.1": 1,
        "model.norm": 1,
        "lm_head": 1,
    }
    assert placement.summary(model) == {
        "model.embed_tokens..model.layers.0": "cuda:0",
        "model.layers.1..lm_head": "cuda:1",
    }


def test_gpu_facts_name_every_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: f"GPU model {i}")
    facts = provenance.gpu_facts()
    assert facts["gpu_count"] == 2
    assert facts["gpus"] == ["GPU model 0", "GPU model 1"]


def test_synced_waits_for_every_other_device_after_the_call(monkeypatch):
    from harness.suites.throughput import measure

    events = []
    monkeypatch.setattr(measure, "synchronize", lambda dev: events.append(f"sync {dev}"))
    fn = measure.synced(lambda: events.append("call") or 7, ["cuda:1", "cuda:2"])
    assert fn() == 7
    assert events == ["call", "sync cuda:1", "sync cuda:2"]
    plain = lambda: 1  # noqa: E731
    assert measure.synced(plain, []) is plain


def test_placement_validates_its_cap():
    assert placement.memory_bytes("70GiB") == 70 * 2**30
    assert placement.memory_bytes("1.5 GB") == 1_500_000_000
    for bad in ("70", "0GiB", "lots", "-1GiB"):
        with pytest.raises(InvalidInput, match="memory per GPU"):
            placement.memory_bytes(bad)
    with pytest.raises(InvalidInput, match="at least 1"):
        placement.Placement(gpus=0)
    with placement.spread_over(placement.Placement(2)) as p:
        assert placement.current() is p and p.spread
    assert placement.current() is None
