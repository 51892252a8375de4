"""The compiled prefill mode, the stored ideals and OrthoRank's decode-by-construction."""

from types import SimpleNamespace

import pytest
import torch

from harness.models import same_weights_copy
from harness.suites.base import SuiteContext
from harness.suites.throughput import ideal
from harness.suites.throughput.compiled import compile_layers, is_method_kernel
from harness.suites.throughput.suite import ThroughputConfig, ThroughputSuite, prefill_forward
from methods.base import ApplyContext
from methods.layers import decoder_layers, remove_with_details
from methods.registry import get_method
from methods.sublayers import drop_sublayers
from skipbench.errors import InvalidInput
from tests.tiny import tiny_model

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def orthorank(model):
    cls = get_method("orthorank")
    method = cls(cls.Config.from_params({"sparsity": 0.25, "layers": "last"}))
    return method.apply(same_weights_copy(model), ApplyContext())


def test_prefill_modes_validated():
    with pytest.raises(InvalidInput, match="prefill_modes"):
        ThroughputConfig(prefill_modes=("turbo",))
    with pytest.raises(InvalidInput, match="prefill_modes"):
        ThroughputConfig(prefill_modes=())
    assert ThroughputConfig().prefill_modes == ("eager", "compiled")


def test_compile_layers_leaves_method_kernels_and_computes_the_same():
    model = tiny_model("llama", 4)
    outcome = orthorank(model)
    selective = set(outcome.details["selective_layers"])
    assert selective and [is_method_kernel(x) for x in decoder_layers(outcome.model)] == [
        i in selective for i in range(4)
    ]
    ids = torch.randint(3, 96, (2, 12))
    for m in (model, outcome.model):
        compiled, counts = compile_layers(m, backend="eager")  # dynamo without inductor (CPU)
        kept = sum(is_method_kernel(x) for x in decoder_layers(m))
        assert counts == {"layers_compiled": 4 - kept, "method_kernel_layers": kept}
        assert not any(
            hasattr(x, "_compiled_call_impl") and x._compiled_call_impl for x in decoder_layers(m)
        )
        with torch.inference_mode():
            torch.testing.assert_close(prefill_forward(compiled, ids), prefill_forward(m, ids))


def by_hand_flops(cfg, seq, layers, attn_layers):
    """Llama matmul FLOPs from the config alone (independent of the module walk)."""
    d, i, h, kvh = (
        cfg.hidden_size,
        cfg.intermediate_size,
        cfg.num_attention_heads,
        cfg.num_key_value_heads,
    )
    hd = d // h
    attn = seq * 2 * d * (2 * h * hd + 2 * kvh * hd) + 4 * h * hd * seq * (seq + 1) / 2
    mlp = seq * 6 * d * i
    return layers * mlp + attn_layers * attn + 2 * d * cfg.vocab_size


def test_prefill_ideal_counts_flops_of_both_structures():
    dense = tiny_model("llama", 6)
    cfg, seq = dense.config, 16
    assert ideal.prefill_flops(dense, seq) == pytest.approx(by_hand_flops(cfg, seq, 6, 6))
    removed = same_weights_copy(dense)
    details = remove_with_details(removed, [3, 4], 2 / 6)
    value, basis = ideal.prefill_ideal(dense, removed, details, seq)
    assert value == pytest.approx(by_hand_flops(cfg, seq, 6, 6) / by_hand_flops(cfg, seq, 4, 4))
    assert "FLOPs" in basis and 1.0 < value < 6 / 4  # the LM head is not removed
    attn = same_weights_copy(dense)
    details = drop_sublayers(attn, ["attn.2", "attn.4"], 1 / 3, 1 / 3)
    value, _ = ideal.prefill_ideal(dense, attn, details, seq)
    # the sublayer fraction (1/3 of attention) is not the FLOP fraction
    assert value == pytest.approx(by_hand_flops(cfg, seq, 6, 6) / by_hand_flops(cfg, seq, 6, 4))
    assert value < 1 / (1 - details["sparsity"]["realized"])


def test_orthorank_ideal_from_its_realized_sparsity_and_decode_is_dense():
    dense = tiny_model("llama", 4)
    outcome = orthorank(dense)
    realized = outcome.details["sparsity"]["realized"]
    value, basis = ideal.prefill_ideal(dense, outcome.model, outcome.details, 16)
    assert value == pytest.approx(1 / (1 - realized)) and "realized" in basis
    assert outcome.details["decode_equals_dense"] is True
    assert ideal.decode_ideal(dense, outcome.model, outcome.details) == 1.0


def test_decode_ideal_is_the_weight_bytes_ratio():
    dense = tiny_model("llama", 4)
    removed = same_weights_copy(dense)
    remove_with_details(removed, [2], 0.25)
    emb = dense.get_input_embeddings().weight
    layer = sum(p.numel() for p in decoder_layers(dense)[2].parameters())
    full = sum(p.numel() for p in dense.parameters()) - emb.numel()
    assert ideal.bytes_read_per_token(dense) == full * 4  # float32
    assert ideal.decode_ideal(dense, removed, {}) == pytest.approx(full / (full - layer))


def test_suite_stores_ideals_and_records_orthorank_decode_as_one():
    dense = tiny_model("llama", 4)
    outcome = orthorank(dense)
    lm = SimpleNamespace(model=outcome.model, device=torch.device("cpu"), info={})
    config = ThroughputConfig.from_params(
        {"prefill_seq_lens": "16", "decode_batch_sizes": "1", "prompt_len": 4, "new_tokens": 3,
         "decode_modes": "eager", "warmup": 0, "repeats": 1, "rounds": 1, "decode_repeats": 1}
    )  # fmt: skip
    ctx = SuiteContext(baseline=dense, method_details=outcome.details)
    out = ThroughputSuite(config).run(lm, ctx)
    got = {(r.task, r.metric): r.value for r in out.results}
    realized = outcome.details["sparsity"]["realized"]
    assert got[("prefill/b1x16", "ideal_speedup")] == pytest.approx(1 / (1 - realized))
    assert got[("decode-eager/b1p4n3", "speedup")] == 1.0
    assert got[("decode-eager/b1p4n3", "ideal_speedup")] == 1.0
    method_rec = [r for r in out.artifacts["throughput"] if r["side"] == "method" and "mode" in r]
    assert method_rec[0]["measured_speedup"] > 0
    assert not any(t.startswith("prefill-compiled") for t, _ in got)  # CPU: skipped, and said so
    assert out.info["skipped"] and "CUDA" in out.info["skipped"][0]
    for r in out.results:
        ThroughputSuite.metric(r.metric)


@cuda
def test_suite_compiled_prefill_on_gpu():
    dense = tiny_model("llama", 4).to("cuda")
    removed = same_weights_copy(dense)
    details = remove_with_details(removed, [2], 0.25)
    lm = SimpleNamespace(model=removed, device=torch.device("cuda"), info={})
    config = ThroughputConfig.from_params(
        {"prefill_seq_lens": "16", "decode_batch_sizes": "", "warmup": 1, "repeats": 2}
    )
    out = ThroughputSuite(config).run(lm, SuiteContext(baseline=dense, method_details=details))
    got = {(r.task, r.metric) for r in out.results}
    assert {("prefill-compiled/b1x16", "speedup"), ("prefill/b1x16", "speedup")} <= got
    assert out.info["compiled"]["method"]["layers_compiled"] == 3


def test_speed_check_prefers_the_stored_ideal():
    from leaderboard.speed_checks import speed_flags

    def tp(task, metric, value):
        return {"suite": "throughput", "task": task, "metric": metric, "value": value}

    details = {"sparsity": {"realized": 7 / 32}}  # sublayer units: 1.28x, not the FLOP ideal
    rows = [tp("prefill-compiled/b1x2048", "speedup", 1.2),
            tp("prefill-compiled/b1x2048", "ideal_speedup", 1.085),
            tp("prefill/b1x2048", "speedup", 1.2)]  # fmt: skip
    flags = speed_flags(rows, details, "llm-drop")
    assert flags == ["prefill-compiled/b1x2048: speedup 1.20× is above its ideal 1.08×"]


def test_prefill_graphs_are_one_gpu_only_and_said_in_each_record():
    """``graphs=True`` off CUDA times the plain forward and each record says it did."""
    from harness.suites.throughput.measure import measure_prefill_sides

    model = tiny_model("llama", 2)
    recs = measure_prefill_sides({"dense": model}, 1, 16, "cpu", 0, 2, graphs=True)
    assert recs["dense"]["graph"] is False and recs["dense"]["repeats"] == 2
    assert "graph" not in measure_prefill_sides({"dense": model}, 1, 16, "cpu", 0, 1)["dense"]


@cuda
def test_graph_prefill_replays_the_compiled_forward():
    """The captured graph of a compiled model with an OrthoRank layer computes the forward."""
    from harness.suites.throughput.measure import graph_prefill

    model = tiny_model("llama", 4, hidden_size=64, head_dim=16).to("cuda", torch.bfloat16)
    model.config._attn_implementation = "sdpa"
    timed, _ = compile_layers(orthorank(model).model)
    ids = torch.randint(3, 96, (1, 256), device="cuda")
    with torch.inference_mode():
        want = prefill_forward(timed, ids).clone()
        replay = graph_prefill(timed, ids)
        replay().zero_()
        got = replay()  # the replay rewrites the graph's output
        torch.cuda.synchronize()
    assert torch.allclose(got.float(), want.float(), atol=1e-2)


def test_a_captured_prefill_sees_the_masks_of_an_uncaptured_one():
    """Under a CUDA capture transformers skips its packed-sequence test and hands every layer a
    materialised mask (so compiled layers recompile inside the capture); ``unpacked_rows`` keeps
    the uncaptured answer. Simulated on CPU by reporting a capture in progress."""
    from unittest import mock

    from harness.suites.throughput.measure import unpacked_rows

    model = tiny_model("llama", 2)
    model.set_attn_implementation("sdpa")
    masks = []
    model.model.layers[0].register_forward_pre_hook(
        lambda module, args, kwargs: masks.append(kwargs.get("attention_mask")), with_kwargs=True
    )
    ids = torch.randint(0, model.config.vocab_size, (2, 16))
    with torch.inference_mode():
        want = prefill_forward(model, ids)
        with mock.patch("torch.cuda.is_current_stream_capturing", return_value=True):
            prefill_forward(model, ids)
            with unpacked_rows():
                got = prefill_forward(model, ids)
    assert masks[0] is None  # uncaptured: SDPA's causal path, no mask tensor
    assert masks[1] is not None and tuple(masks[1].shape) == (2, 1, 16, 16)  # the bug
    assert masks[2] is None
    assert torch.equal(got, want)


@cuda
def test_captures_share_one_warmup_stream_and_leave_no_memory_behind():
    from harness.suites.throughput.measure import capture_graph, warmup_stream

    a = torch.randn(256, 256, device="cuda")
    capture_graph(lambda: a @ a)  # the first capture creates the stream's workspace
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    for _ in range(3):
        capture_graph(lambda: a @ a)
    torch.cuda.synchronize()
    assert warmup_stream(torch.cuda.current_device()) is warmup_stream(torch.cuda.current_device())
    # three graphs' outputs at most, no new cuBLAS workspace (32 MiB each on Hopper)
    assert torch.cuda.memory_allocated() - before < 3 * 2**20
