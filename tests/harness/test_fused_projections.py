"""Graph-mode decode's concatenated projections: same outputs, shared weights, method kernels
left alone, and fewer GEMMs in the compiled step."""

import pytest
import torch

from harness.models import same_weights_copy
from harness.suites.throughput.fused_projections import (
    FirstProjection,
    LaterProjection,
    bytes_needed,
    extra_bytes,
    fuse_projections,
)
from harness.suites.throughput.measure import StaticDecoder, random_ids
from methods.base import ApplyContext
from methods.layers import decoder_layers
from methods.registry import get_method
from methods.sublayers import drop_sublayers
from tests.tiny import tiny_model


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_same_logits_and_greedy_tokens(arch):
    model = tiny_model(arch, 3)
    fused, info = fuse_projections(model)
    assert info == {"fused_groups": 6}  # attention and MLP of 3 layers
    layer = decoder_layers(fused)[0]
    assert isinstance(layer.self_attn.q_proj, FirstProjection)
    assert isinstance(layer.mlp.up_proj, LaterProjection)
    ids = random_ids(2, 9, model.config.vocab_size, 0, "cpu")
    with torch.inference_mode():
        torch.testing.assert_close(fused(input_ids=ids).logits, model(input_ids=ids).logits)
        plain = StaticDecoder(model, 2, 9, 6, use_graph=False).generate(ids).clone()
        assert torch.equal(StaticDecoder(fused, 2, 9, 6, use_graph=False).generate(ids), plain)
    assert isinstance(decoder_layers(model)[0].self_attn.q_proj, torch.nn.Linear)  # untouched


def test_a_later_projection_takes_the_slice_only_for_the_same_input():
    attn = decoder_layers(fuse_projections(tiny_model("llama", 1))[0])[0].self_attn
    hidden = attn.q_proj.weight_cat.shape[1]
    x, other = torch.randn(1, 4, hidden), torch.randn(1, 4, hidden)
    with torch.inference_mode():
        attn.q_proj(x)
        expected = attn.k_proj.original(other)
        torch.testing.assert_close(attn.k_proj(other), expected)  # another input: its own GEMM
        assert attn.v_proj.handoff is not None
        torch.testing.assert_close(attn.v_proj(x), attn.v_proj.original(x))  # the slice
        assert attn.v_proj.handoff is None  # used once


def test_models_that_share_weights_share_one_concatenation():
    model = tiny_model("llama", 2)
    dropped = same_weights_copy(model)
    drop_sublayers(dropped, ["attn.1"], 0.5, 0.5)  # a method's model sharing dense's weights
    shared: dict = {}
    fuse_projections(model, shared)
    fuse_projections(dropped, shared)
    names = (
        "self_attn.q_proj",
        "self_attn.k_proj",
        "self_attn.v_proj",
        "mlp.gate_proj",
        "mlp.up_proj",
    )
    layer = decoder_layers(model)[0]
    per_layer = sum(
        p.numel() * p.element_size() for n in names for p in layer.get_submodule(n).parameters()
    )
    assert extra_bytes(shared) == 2 * per_layer  # one copy per layer, not one per model
    assert bytes_needed([model, dropped]) == extra_bytes(shared)  # known before allocating


def test_method_kernel_layers_are_left_alone():
    model = tiny_model("llama", 4)
    cls = get_method("orthorank")
    method = cls(cls.Config.from_params({"sparsity": 0.25, "layers": "last"}))
    outcome = method.apply(same_weights_copy(model), ApplyContext())
    fused, info = fuse_projections(outcome.model)
    selective = set(outcome.details["selective_layers"])
    for i, layer in enumerate(decoder_layers(fused)):
        q = layer.self_attn.q_proj
        assert isinstance(q, torch.nn.Linear) == (i in selective)
    assert info["fused_groups"] == 2 * (4 - len(selective))
    ids = random_ids(1, 8, model.config.vocab_size, 0, "cpu")
    with torch.inference_mode():
        torch.testing.assert_close(fused(input_ids=ids).logits, outcome.model(input_ids=ids).logits)


@pytest.mark.slow
def test_the_compiled_decode_step_has_fewer_gemms():
    from torch._inductor.utils import run_and_get_code

    model = tiny_model("llama", 2)
    tok = torch.zeros(1, 1, dtype=torch.long)
    counts = []
    for m in (model, fuse_projections(model)[0]):
        torch._dynamo.reset()
        step = torch.compile(lambda m=m: m(input_ids=tok).logits, dynamic=False)
        with torch.inference_mode():
            _, codes = run_and_get_code(step)
        code = "\n".join(codes)
        counts.append(sum(code.count(f"extern_kernels.{k}(") for k in ("mm", "addmm", "bmm")))
    torch._dynamo.reset()
    assert counts == [2 * 7 + 1, 2 * 4 + 1]  # 7 -> 4 GEMMs per layer, and the LM head
