"""OrthoRank: identity cases, selection behaviour, generation, layer strategies, config checks.

The per-token reference comparison lives in ``test_orthorank_reference.py``.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from methods.base import ApplyContext  # noqa: E402
from methods.layers import decoder_layers  # noqa: E402
from methods.orthorank import OrthoRank, OrthoRankConfig  # noqa: E402
from methods.orthorank.dispatch import is_selective, make_dense, make_selective  # noqa: E402
from methods.orthorank.flops import layer_flops  # noqa: E402
from methods.registry import get_method  # noqa: E402
from skipbench.errors import InvalidInput  # noqa: E402
from tests.methods.test_orthorank_reference import (  # noqa: E402
    distinct_ids,
    pad_batch,
    reference_select,
    rms,
)
from tests.tiny import tiny_model  # noqa: E402


def apply(model, ctx=None, **params):
    config = OrthoRankConfig.from_params(params)
    return OrthoRank(config).apply(model, ctx or ApplyContext())


# ------------------------------------------------------------------------------ identity: keep_ratio = 1


@pytest.mark.parametrize("model_type", ["llama", "qwen3", "gemma3_text"])
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_keep_ratio_one_gives_dense_logits(model_type, impl):
    from transformers import DynamicCache

    dense = tiny_model(model_type, 4)
    dense.config._attn_implementation = impl
    model = tiny_model(model_type, 4)
    model.config._attn_implementation = impl
    apply(model, keep_ratio="1.0", layers="0,1,2,3")
    ids = torch.randint(3, 90, (2, 30))
    mask = torch.ones_like(ids)
    mask[1, :6] = 0
    with torch.no_grad():
        assert (model(input_ids=ids).logits - dense(input_ids=ids).logits).abs().max() < 1e-5
        a = model(input_ids=ids, attention_mask=mask).logits
        b = dense(input_ids=ids, attention_mask=mask).logits
        assert (a - b)[mask.bool()].abs().max() < 1e-5
        # with a KV cache: prefill, single decoded tokens, then a multi-token chunk on top
        caches = [DynamicCache(config=m.config) for m in (model, dense)]
        for start, stop in [(0, 20), (20, 21), (21, 22), (22, 30)]:
            outs = [
                m(
                    input_ids=ids[:, start:stop],
                    attention_mask=mask[:, :stop],
                    past_key_values=c,
                    use_cache=True,
                ).logits
                for m, c in zip((model, dense), caches)
            ]
            keep = mask[:, start:stop].bool()
            assert (outs[0] - outs[1])[keep].abs().max() < 1e-5, (start, stop)


# ------------------------------------------------------------------------------ selection behaviour


def _capture(layer):
    seen = {}

    def hook(module, args, kwargs, output):
        seen["in"] = (args[0] if args else kwargs["hidden_states"]).clone()
        seen["out"] = (output[0] if isinstance(output, tuple) else output).clone()

    return seen, layer.register_forward_hook(hook, with_kwargs=True)


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_unselected_tokens_pass_unchanged_and_selected_change(model_type):
    model = tiny_model(model_type, 4)
    apply(model, keep_ratio="0.33", layers="2")
    layer = decoder_layers(model)[2]
    seen, handle = _capture(layer)
    seq = distinct_ids([24], seed=1)[0]
    with torch.no_grad():
        model(input_ids=seq[None])
    handle.remove()
    h_in, h_out = seen["in"][0], seen["out"][0]
    with torch.no_grad():
        x = rms(h_in, layer.input_layernorm, model_type.startswith("gemma"))
        chosen = reference_select(x, 0.33)
    assert len(chosen) == math.ceil(0.33 * 24) and 0 not in chosen
    for i in range(24):
        if i in chosen:
            assert not torch.equal(h_out[i], h_in[i]), i
        else:
            assert torch.equal(h_out[i], h_in[i]), i


def test_unselected_kv_false_changes_selected_outputs_only():
    outs = {}
    seq = distinct_ids([24], seed=2)[0]
    for flag in ("true", "false"):
        model = tiny_model("llama", 4)
        apply(model, keep_ratio="0.5", layers="1", unselected_kv=flag)
        layer = decoder_layers(model)[1]
        seen, handle = _capture(layer)
        with torch.no_grad():
            model(input_ids=seq[None])
        handle.remove()
        outs[flag] = seen
    assert torch.equal(outs["true"]["in"], outs["false"]["in"])
    with torch.no_grad():
        norm = decoder_layers(tiny_model("llama", 4))[1].input_layernorm
        chosen = sorted(reference_select(rms(outs["true"]["in"][0], norm, False), 0.5))
    unchosen = [i for i in range(24) if i not in chosen]
    diff = (outs["true"]["out"][0] - outs["false"]["out"][0]).abs().amax(dim=-1)
    assert (diff[chosen] > 1e-4).all()
    assert (diff[unchosen] == 0).all()


def test_random_score_is_seeded_and_differs_from_orthogonality():
    seq = distinct_ids([40], seed=4)[0][None]
    logits = {}
    for score, seed in [("random", 0), ("random", 0), ("random", 1), ("orthogonality", 0)]:
        model = tiny_model("llama", 4)
        apply(model, keep_ratio="0.5", layers="1,2", score=score, seed=str(seed))
        with torch.no_grad():
            logits.setdefault((score, seed), []).append(model(input_ids=seq).logits)
    a, b = logits[("random", 0)]
    assert torch.equal(a, b)
    assert not torch.allclose(a, logits[("random", 1)][0])
    assert not torch.allclose(a, logits[("orthogonality", 0)][0])


def test_make_dense_restores_the_layer():
    model = tiny_model("llama", 4)
    ids = torch.randint(3, 90, (1, 16))
    with torch.no_grad():
        before = model(input_ids=ids).logits
        apply(model, keep_ratio="0.33", layers="1,2")
        assert [is_selective(layer) for layer in decoder_layers(model)] == [
            False,
            True,
            True,
            False,
        ]
        changed = model(input_ids=ids).logits
        for layer in decoder_layers(model):
            make_dense(layer)
        after = model(input_ids=ids).logits
    assert not torch.allclose(before, changed)
    assert torch.equal(before, after)


def test_deepcopy_keeps_the_copy_selective_on_its_own_weights():
    import copy

    model = tiny_model("llama", 4)
    apply(model, keep_ratio="0.33", layers="1,2")
    clone = copy.deepcopy(model)
    ids = torch.randint(3, 90, (1, 16))
    with torch.no_grad():
        before = model(input_ids=ids).logits
        for p in clone.parameters():
            p.mul_(0.5)
        assert torch.equal(model(input_ids=ids).logits, before)
        assert not torch.allclose(clone(input_ids=ids).logits, before)
    for i in (1, 2):
        layer = decoder_layers(clone)[i]
        assert is_selective(layer) and layer.forward.__self__ is layer


# ------------------------------------------------------------------------------ generation


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_greedy_generation_first_token_is_prefill_argmax(model_type):
    model = tiny_model(model_type, 4)
    apply(model, keep_ratio="0.33", layers="1,2")
    seqs = distinct_ids([18, 11], seed=6)
    ids, mask, _ = pad_batch(seqs, "left")
    with torch.no_grad():
        out = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=5, do_sample=False, pad_token_id=0
        )
        single = model.generate(
            input_ids=seqs[0][None], max_new_tokens=5, do_sample=False, pad_token_id=0
        )
        prefill = model(input_ids=seqs[0][None]).logits[0, -1]
    assert out.shape == (2, ids.shape[1] + 5)
    assert int(single[0, len(seqs[0])]) == int(prefill.argmax())
    tail = single[0, len(seqs[0]) :]  # may stop early at EOS
    assert torch.equal(out[0, ids.shape[1] : ids.shape[1] + len(tail)], tail)  # row 0 is unpadded


def test_generation_with_keep_ratio_one_equals_dense():
    dense = tiny_model("qwen2", 4)
    model = tiny_model("qwen2", 4)
    apply(model, keep_ratio="1", layers="0,1,2,3")
    ids = torch.randint(3, 90, (1, 12))
    with torch.no_grad():
        a = model.generate(input_ids=ids, max_new_tokens=6, do_sample=False, pad_token_id=0)
        b = dense.generate(input_ids=ids, max_new_tokens=6, do_sample=False, pad_token_id=0)
    assert torch.equal(a, b)


# ------------------------------------------------------------------------------ layer strategies


def test_layers_last_and_explicit():
    out = apply(tiny_model("llama", 8), sparsity="0.2", layers="last")
    n = math.ceil(0.2 * 8 / 0.67)  # 3
    assert out.details["selective_layers"] == [4, 5, 6]
    assert len(out.details["selective_layers"]) == n
    out = apply(tiny_model("llama", 8), layers="6, 2,4")
    assert out.details["selective_layers"] == [2, 4, 6]
    assert out.details["layer_strategy"] == "explicit"
    flags = [is_selective(layer) for layer in decoder_layers(out.model)]
    assert flags == [i in (2, 4, 6) for i in range(8)]


def _calibration(n=4, length=24, seed=0):
    return torch.randint(3, 90, (n, length), generator=torch.Generator().manual_seed(seed))


def test_layers_shortgpt_picks_lowest_block_influence():
    model = tiny_model("llama", 6, seed=3)
    calib = _calibration()
    sums, counts = [0.0] * 6, [0] * 6
    handles = []
    for i, layer in enumerate(decoder_layers(model)):

        def hook(module, args, kwargs, output, i=i):
            a, b = (args[0] if args else kwargs["hidden_states"])[0], output[0]
            cos = torch.nn.functional.cosine_similarity(a, b, dim=-1)
            sums[i] += float(cos.sum())
            counts[i] += cos.numel()

        handles.append(layer.register_forward_hook(hook, with_kwargs=True))
    with torch.no_grad():
        for row in calib:
            model(input_ids=row[None])
    for h in handles:
        h.remove()
    bi = [1 - s / c for s, c in zip(sums, counts)]
    out = apply(model, ApplyContext(calibration=calib), sparsity="0.2", layers="shortgpt")
    n = math.ceil(0.2 * 6 / 0.67)  # 2
    assert out.details["selection_order"] == sorted(range(6), key=lambda i: bi[i])[:n]


def _nll(model, calib):
    total, count = 0.0, 0
    with torch.no_grad():
        for row in calib:
            logits = model(input_ids=row[None]).logits[0, :-1]
            total += float(torch.nn.functional.cross_entropy(logits, row[1:], reduction="sum"))
            count += len(row) - 1
    return total / count


def test_layers_sleb_equals_brute_force_greedy_search():
    from methods.orthorank.selection import Selective

    calib = _calibration(seed=1)
    model = tiny_model("llama", 6, seed=2)
    out = apply(model, ApplyContext(calibration=calib), sparsity="0.2", layers="sleb")
    n = math.ceil(0.2 * 6 / 0.67)  # 2
    # brute force: a full forward of the whole model per candidate per round
    brute = tiny_model("llama", 6, seed=2)
    layers = decoder_layers(brute)
    chosen, losses = [], []
    for _ in range(n):
        trials = []
        for cand in [i for i in range(1, 5) if i not in chosen]:
            make_selective(layers[cand], Selective(keep_ratio=0.33))
            trials.append((_nll(brute, calib), cand))
            make_dense(layers[cand])
        loss, best = min(trials)
        make_selective(layers[best], Selective(keep_ratio=0.33))
        chosen.append(best)
        losses.append(loss)
    assert out.details["selection_order"] == chosen
    assert out.details["calibration_loss"] == pytest.approx(losses, abs=1e-5)
    assert all(
        not is_selective(layer) for i, layer in enumerate(decoder_layers(model)) if i not in chosen
    )


# ------------------------------------------------------------------------------ details and FLOPs


def test_layer_flops_hand_count():
    cfg = tiny_model("llama", 1).config  # d=32, 4 heads x 8, 2 KV heads, intermediate 64
    # per token: q+o 2*2*32*32 = 4096, k+v 2*2*32*16 = 2048, MLP 3*2*32*64 = 12288
    # per (query, key) pair: 2*2*4*8 = 128; causal pairs at T=4: 10
    assert layer_flops(cfg, 4) == 4 * (4096 + 2048 + 12288) + 128 * 10
    # 2 selected of 4: K/V for all 4, the rest for 2, 2 x 5/2 pairs on average, score 4*32*4
    assert layer_flops(cfg, 4, 2) == 4 * 2048 + 2 * (4096 + 12288) + 128 * 5 + 512


def test_details_report_sparsity_and_fractions():
    out = apply(tiny_model("llama", 8), sparsity="0.2", layers="last", calib_seq_len="100")
    d = out.details  # counted at 2048 tokens whatever the calibration length
    assert d["keep_ratio"] == 0.33 and d["tokens_updated_fraction"]["at_tokens"] == 2048
    k = math.ceil(0.33 * 2048)  # 676
    assert d["tokens_updated_fraction"]["selective_layers"] == pytest.approx(k / 2048)
    assert d["tokens_updated_fraction"]["all_layers"] == pytest.approx((5 + 3 * k / 2048) / 8)
    cfg = out.model.config
    realized = 3 * (1 - layer_flops(cfg, 2048, k) / layer_flops(cfg, 2048)) / 8
    assert d["sparsity"]["realized"] == pytest.approx(realized)
    assert d["sparsity"]["nominal"] == 0.2
    assert 0 < d["sparsity"]["realized"] < d["sparsity"]["layer_equivalent"]


# ------------------------------------------------------------------------------ config checks


def test_registered():
    assert get_method("orthorank") is OrthoRank


@pytest.mark.parametrize(
    "params,needle",
    [
        ({"keep_ratio": "0"}, "keep_ratio=0.0"),
        ({"keep_ratio": "1.5"}, "keep_ratio=1.5"),
        ({"sparsity": "1"}, "sparsity=1.0"),
        ({"layers": "first"}, "layers='first'"),
        ({"layers": "1,,2"}, "layers='1,,2'"),
        ({"layers": "2,2"}, "more than once"),
        ({"score": "loudest"}, "score='loudest'"),
        ({"unselected_kv": "maybe"}, "unselected_kv='maybe'"),
        ({"keep_ratio": "1.0"}, "keep_ratio=1.0"),
        ({"calib_samples": "0"}, "calib_samples=0"),
        ({"depth": "3"}, "depth"),
    ],
)
def test_bad_params_rejected_in_one_line(params, needle):
    with pytest.raises(InvalidInput) as err:
        OrthoRankConfig.from_params(params)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "params,total,needle",
    [
        ({"layers": "0,9"}, 8, "[9]"),
        ({"sparsity": "0.6", "layers": "last"}, 8, "n_sel=8"),
        ({"sparsity": "0.55", "layers": "sleb"}, 8, "at most 6"),
    ],
)
def test_validate_for_rejects_impossible_configs(params, total, needle):
    method = OrthoRank(OrthoRankConfig.from_params(params))
    with pytest.raises(InvalidInput) as err:
        method.validate_for(total)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_calibration_only_for_searched_strategies():
    assert OrthoRank(OrthoRankConfig(layers="last")).calibration_spec() is None
    assert OrthoRank(OrthoRankConfig(layers="3,4")).calibration_spec() is None
    spec = OrthoRank(OrthoRankConfig(layers="sleb", calib_samples=32)).calibration_spec()
    assert spec is not None and spec.num_samples == 32


# ------------------------------------------------------------------------------ GPU and real model


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_runs_and_tracks_float32():
    model = tiny_model("llama", 4).cuda()
    apply(model, keep_ratio="0.5", layers="1,2")
    ids = torch.randint(3, 90, (2, 64), device="cuda")
    with torch.no_grad():
        ref = model(input_ids=ids).logits.float()
        model.to(torch.bfloat16)
        got = model(input_ids=ids).logits.float()
        gen = model.generate(input_ids=ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert torch.isfinite(got).all() and gen.shape == (2, 68)
    assert (got - ref).abs().mean() < 0.05


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_selective_forward_never_syncs_with_the_host():
    from methods.orthorank.reference import reference_forward
    from methods.orthorank.selection import Selective

    model = tiny_model("llama", 2).cuda().to(torch.bfloat16)
    layer = decoder_layers(model)[1]
    h = torch.randn(3, 64, 32, device="cuda", dtype=torch.bfloat16)
    pos = torch.arange(64, device="cuda")[None]
    cos_sin = model.model.rotary_emb(h, pos)
    allowed = (
        torch.ones(64, 64, device="cuda", dtype=torch.bool).tril()[None, None].repeat(3, 1, 1, 1)
    )
    allowed[1, :, :, :9] = False  # left padding in row 1
    with torch.no_grad():
        torch.cuda.set_sync_debug_mode("error")
        try:
            for mask in (None, allowed):
                out = reference_forward(
                    layer,
                    Selective(keep_ratio=0.33),
                    h,
                    attention_mask=mask,
                    position_embeddings=cos_sin,
                )
        finally:
            torch.cuda.set_sync_debug_mode(0)
    assert out.shape == h.shape and torch.isfinite(out[0]).all()


TEXT = (
    "The river rises in the hills north of the town and runs south through farmland before it "
    "reaches the sea. In the nineteenth century a canal was cut beside it so that barges could "
    "carry coal and grain to the port, and the mills that grew up along its banks employed most "
    "of the people who lived there. When the railway arrived the canal fell out of use, and by "
    "the middle of the twentieth century most of the mills had closed."
)


@pytest.mark.slow
def test_smollm2_selective_layers_cost_little_and_keep_ratio_one_is_dense(smollm2_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(smollm2_dir))
    ids = tokenizer(TEXT, return_tensors="pt").input_ids
    model = AutoModelForCausalLM.from_pretrained(str(smollm2_dir), dtype=torch.float32).eval()
    with torch.no_grad():
        dense = _nll(model, ids)
        out = apply(model, keep_ratio="1.0", layers="12,13,14")
        same = _nll(model, ids)
        for layer in decoder_layers(model):
            make_dense(layer)
        out = apply(model, keep_ratio="0.33", layers="12,13,14")
        sparse = _nll(model, ids)
    assert out.details["selective_layers"] == [12, 13, 14]
    assert abs(same - dense) < 1e-5
    assert dense < sparse < dense + 1.0
