import copy

import pytest
import torch

from methods.base import ApplyContext
from methods.orthorank import block_mask, flex, fused, ops
from methods.orthorank.dispatch import is_selective
from methods.orthorank.reference import reference_forward
from methods.registry import get_method
from skipbench.errors import InvalidInput
from tests.tiny import tiny_model

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
FLEX_SIZES = dict(hidden_size=64, head_dim=16)  # FlexAttention needs head_dim >= 16


@pytest.fixture
def flex_calls(monkeypatch):
    """Counts calls of the FlexAttention path, so a test cannot pass on the fallback alone."""
    calls = []
    real = flex.flex_attend

    def spy(*args, **kwargs):
        calls.append(args[1].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(flex, "flex_attend", spy)
    return calls


@pytest.fixture
def region_calls(monkeypatch):
    """Counts calls of the two-region fused layer (``methods.orthorank.fused``)."""
    calls = []
    real = fused.attend_and_finish

    def spy(*args, **kwargs):
        calls.append(args[3].shape)  # q: [B, H, K, D]
        return real(*args, **kwargs)

    monkeypatch.setattr(fused, "attend_and_finish", spy)
    return calls


def selective_pair(
    model_type: str, layers: str = "1,2", keep: float = 0.4, kernel: str = "flex", **overrides
):
    """The same model made selective twice through the registry: reference and ``kernel``."""
    base = tiny_model(model_type, 4, **{**FLEX_SIZES, **overrides})
    base.config._attn_implementation = "sdpa"
    params = {"layers": layers, "keep_ratio": keep}
    ref = apply_orthorank(copy.deepcopy(base), **params, kernel="reference").model
    fast = apply_orthorank(copy.deepcopy(base), **params, kernel=kernel).model
    selective = [i for i, layer in enumerate(fast.model.layers) if is_selective(layer)]
    assert selective == [int(i) for i in layers.split(",")]
    assert {fast.model.layers[i].orthorank.kernel for i in selective} == {kernel}
    return ref, fast


def rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "qwen3"])
@pytest.mark.parametrize("seq", [6, 128, 300])
def test_fast_forward_equals_reference_prefill(model_type, seq, flex_calls):
    ref, fast = selective_pair(model_type)
    ids = torch.randint(3, 96, (2, seq), generator=torch.Generator().manual_seed(seq))
    with torch.inference_mode():
        a = ref(input_ids=ids, use_cache=False).logits
        b = fast(input_ids=ids, use_cache=False).logits
    assert len(flex_calls) == 2  # both selective layers took the FlexAttention path
    assert rel(b, a) < 1e-5  # float32; only the attention kernel differs


def test_padding_and_cache_fall_back_to_reference_exactly(flex_calls):
    ref, fast = selective_pair("llama")
    ids = torch.randint(3, 96, (2, 20), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[0, :5] = 0  # left padding: the fast path does not apply
    with torch.inference_mode():
        a = ref(input_ids=ids, attention_mask=mask).logits
        b = fast(input_ids=ids, attention_mask=mask).logits
        c = ref.generate(
            ids, attention_mask=mask, max_new_tokens=4, do_sample=False, pad_token_id=0
        )
        d = fast.generate(
            ids, attention_mask=mask, max_new_tokens=4, do_sample=False, pad_token_id=0
        )
    assert torch.equal(a, b) and torch.equal(c, d)
    assert flex_calls == []


def coverage(mask, q_len, kv_len, block):
    """Dense [B, Qpad, KVpad] maps of (partial or full) blocks and of full blocks alone."""
    bsz = mask.kv_num_blocks.shape[0]
    nqb, nkb = mask.kv_num_blocks.shape[-1], mask.kv_indices.shape[-1]
    any_cov = torch.zeros(bsz, nqb * block, nkb * block, dtype=torch.bool)
    full_cov = torch.zeros_like(any_cov)
    for b in range(bsz):
        for qb in range(nqb):
            rows = slice(qb * block, (qb + 1) * block)
            for j in range(int(mask.kv_num_blocks[b, 0, qb])):
                kb = int(mask.kv_indices[b, 0, qb, j])
                any_cov[b, rows, kb * block : (kb + 1) * block] = True
            for j in range(int(mask.full_kv_num_blocks[b, 0, qb])):
                kb = int(mask.full_kv_indices[b, 0, qb, j])
                any_cov[b, rows, kb * block : (kb + 1) * block] = True
                full_cov[b, rows, kb * block : (kb + 1) * block] = True
    return any_cov, full_cov


@pytest.mark.parametrize("kv_len,q_len,block", [(700, 300, 128), (256, 256, 128), (90, 40, 16)])
def test_block_mask_covers_exactly_the_allowed_pairs(kv_len, q_len, block):
    gen = torch.Generator().manual_seed(kv_len)
    rows = torch.stack(
        [torch.randperm(kv_len, generator=gen)[:q_len].sort().values for _ in range(2)]
    )
    mask, q_pad = block_mask.position_block_mask(rows, kv_len, block)
    assert q_pad % block == 0 and q_pad >= q_len
    rows_p = torch.cat([rows, rows[:, -1:].expand(2, q_pad - q_len)], dim=1)
    keys = torch.arange(mask.seq_lengths[1])
    allowed = keys[None, None, :] <= rows_p[:, :, None]  # [B, Qpad, KVpad]
    any_cov, full_cov = coverage(mask, q_len, kv_len, block)
    assert not (allowed & ~any_cov).any()  # nothing allowed is skipped
    assert not (full_cov & ~allowed).any()  # unmasked blocks contain only allowed pairs
    # no wasted partial block: each computed block holds at least one allowed pair
    nqb = q_pad // block
    blocks = (any_cov & ~full_cov).view(2, nqb, block, -1, block).any(dim=(2, 4))
    useful = allowed.view(2, nqb, block, -1, block).any(dim=(2, 4))
    assert not (blocks & ~useful).any()


@cuda
def test_compiled_flex_matches_reference_on_gpu():
    ref, fast = selective_pair("llama", layers="1,2,3", keep=0.33, **FLEX_SIZES)
    ref, fast = ref.to("cuda", torch.bfloat16), fast.to("cuda", torch.bfloat16)
    ids = torch.randint(3, 96, (2, 300), device="cuda")
    with torch.inference_mode():
        layer = ref.model.layers[1]
        h = torch.randn(2, 300, 64, device="cuda", dtype=torch.bfloat16)
        pos = ref.model.rotary_emb(h, torch.arange(300, device="cuda")[None])
        assert flex.flex_covers(layer, layer.orthorank, h, {"position_embeddings": pos})
        a = reference_forward(layer, layer.orthorank, h, position_embeddings=pos)
        b = flex.flex_forward(layer, layer.orthorank, h, position_embeddings=pos)
        assert rel(b.float(), a.float()) < 2e-2
        la = ref(input_ids=ids, use_cache=False).logits.float()
        lb = fast(input_ids=ids, use_cache=False).logits.float()
    assert rel(lb, la) < 2e-2


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "qwen3", "gemma3_text"])
def test_fused_tail_and_rope_equal_reference(model_type):
    """kernel=fused (uncompiled on CPU) computes the same formulas: two regions for Llama and
    Qwen2, flex with fused steps for Qwen3 (q/k norms); Gemma 3 keeps its own tail."""
    ref, fast = selective_pair(model_type, kernel="fused")
    ids = torch.randint(3, 96, (2, 40), generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        a = ref(input_ids=ids, use_cache=False).logits
        b = fast(input_ids=ids, use_cache=False).logits
    assert rel(b, a) < 1e-5
    assert ops.fusable_tail(ref.model.layers[1]) is (model_type != "gemma3_text")


@cuda
@pytest.mark.parametrize("fused_kernel", [False, True])
def test_fast_kernels_in_bf16_are_as_accurate_as_the_reference(fused_kernel):
    """Against the reference in float32 (the truth), the bf16 fast path errs no more than the
    bf16 reference does (up to a bf16 kernel change)."""
    kernel = "fused" if fused_kernel else "flex"
    ref, fast = selective_pair("llama", layers="1,2,3", keep=0.33, kernel=kernel, **FLEX_SIZES)
    truth = copy.deepcopy(ref).to("cuda", torch.float32)
    ref, fast = ref.to("cuda", torch.bfloat16), fast.to("cuda", torch.bfloat16)
    ids = torch.randint(3, 96, (2, 300), device="cuda")
    with torch.inference_mode():
        t = truth(input_ids=ids, use_cache=False).logits
        a = ref(input_ids=ids, use_cache=False).logits.float()
        b = fast(input_ids=ids, use_cache=False).logits.float()
    assert rel(b, t) < 1.5 * rel(a, t) + 5e-3, (rel(b, t), rel(a, t))


def apply_orthorank(model, **params):
    cls = get_method("orthorank")
    return cls(cls.Config.from_params(params)).apply(model, ApplyContext())


@pytest.mark.parametrize("kernel", ["flex", "fused"])
def test_kernel_option_runs_the_fast_path_through_the_registry(kernel, flex_calls, region_calls):
    """``kernel=flex|fused`` on the method config: same tokens, same function as the reference."""
    base = tiny_model("llama", 4, **FLEX_SIZES)
    base.config._attn_implementation = "sdpa"
    ref = apply_orthorank(copy.deepcopy(base), layers="1,2", keep_ratio=0.4, kernel="reference")
    out = apply_orthorank(copy.deepcopy(base), layers="1,2", keep_ratio=0.4, kernel=kernel)
    assert ref.details["kernel"] == "reference" and out.details["kernel"] == kernel
    assert [layer.orthorank.kernel for layer in out.model.model.layers[1:3]] == [kernel] * 2
    ids = torch.randint(3, 96, (2, 200), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        a = ref.model(input_ids=ids, use_cache=False).logits
        b = out.model(input_ids=ids, use_cache=False).logits
    assert len(flex_calls if kernel == "flex" else region_calls) == 2  # one per selective layer
    assert 0 < rel(b, a) < 1e-5  # a different attention kernel (not the same code), same result


def test_kernel_auto_is_the_reference_on_cpu_and_bad_kernels_are_refused():
    base = tiny_model("llama", 4)
    auto = apply_orthorank(copy.deepcopy(base), layers="1,2", kernel="auto")
    assert auto.details["kernel"] == "reference"
    ref = apply_orthorank(copy.deepcopy(base), layers="1,2", kernel="reference")
    ids = torch.randint(3, 96, (1, 50), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        assert torch.equal(auto.model(input_ids=ids).logits, ref.model(input_ids=ids).logits)
    cls = get_method("orthorank")
    with pytest.raises(InvalidInput, match=r"kernel='triton'.*allowed: auto, reference"):
        cls.Config.from_params({"kernel": "triton"})


@cuda
def test_kernel_auto_is_fused_on_cuda():
    model = tiny_model("llama", 4, **FLEX_SIZES).to("cuda", torch.bfloat16)
    model.config._attn_implementation = "sdpa"
    out = apply_orthorank(model, layers="1,2", keep_ratio=0.33)
    assert out.details["kernel"] == "fused"
    ids = torch.randint(3, 96, (2, 300), device="cuda")
    with torch.inference_mode():
        assert torch.isfinite(out.model(input_ids=ids, use_cache=False).logits).all()


@cuda
@pytest.mark.parametrize("kernel", ["reference", "fused"])
def test_selective_prefill_never_waits_for_the_gpu(kernel):
    """No host sync inside the forward, so the host can queue kernels ahead of the GPU."""
    model = tiny_model("llama", 4, **FLEX_SIZES).to("cuda", torch.bfloat16)
    model.config._attn_implementation = "sdpa"
    out = apply_orthorank(model, layers="1,2", keep_ratio=0.33, kernel=kernel)
    ids = torch.randint(3, 96, (1, 256), device="cuda")
    with torch.inference_mode():
        out.model(input_ids=ids, use_cache=False, logits_to_keep=1)  # compiles, if anything
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for layer in out.model.model.layers[1:3]:
                h = torch.randn(1, 256, 64, device="cuda", dtype=torch.bfloat16)
                pos = out.model.model.rotary_emb(h, torch.arange(256, device="cuda")[None])
                layer(h, position_embeddings=pos)
        finally:
            torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "qwen3"])
def test_fused_layer_equals_reference_and_covers_llama_style_layers(model_type, region_calls):
    """Two regions (uncompiled on CPU) compute the reference's function; Qwen3 (q/k norms)
    takes the per-op fused path instead."""
    base = tiny_model(model_type, 4, **FLEX_SIZES)
    base.config._attn_implementation = "sdpa"
    params = dict(layers="1,2", keep_ratio=0.33)
    ref = apply_orthorank(copy.deepcopy(base), **params, kernel="reference").model
    fast = apply_orthorank(copy.deepcopy(base), **params, kernel="fused").model
    ids = torch.randint(3, 96, (2, 300), generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        a = ref(input_ids=ids, use_cache=False).logits
        b = fast(input_ids=ids, use_cache=False).logits
    assert rel(b, a) < 1e-5
    expected = 0 if model_type == "qwen3" else 2
    assert len(region_calls) == expected
    if expected:
        assert region_calls[0][2] == 99  # ceil(0.33 x 300) selected queries


@cuda
def test_fused_regions_compile_once_for_every_layer():
    """Weights are region inputs, so all selective layers share one graph per shape."""
    import torch._dynamo

    torch._dynamo.reset()
    ops.clear_compiled()  # every kernel's compiled functions live there
    model = tiny_model("llama", 5, **FLEX_SIZES).to("cuda", torch.bfloat16)
    model.config._attn_implementation = "sdpa"
    out = apply_orthorank(model, layers="1,2,3", keep_ratio=0.33, kernel="fused")
    ids = torch.randint(3, 96, (1, 384), device="cuda")
    with torch.inference_mode(), torch._dynamo.config.patch(error_on_recompile=True):
        out.model(input_ids=ids, use_cache=False)  # layer 1 compiles; 2 and 3 must reuse it
        out.model(input_ids=torch.randint(3, 96, (1, 384), device="cuda"), use_cache=False)
    assert ops.compiled_names() == {"select", "finish"}


@pytest.mark.parametrize("splits", [2, 4])
def test_split_block_mask_covers_each_key_chunk_exactly(splits):
    """Chunk s of row b (entry s * B + b) allows key j of the chunk iff s * c + j <= the row's
    position: every (query, key) pair of the unsplit mask in exactly one chunk."""
    kv_len, q_len, block = 512, 100, 64
    gen = torch.Generator().manual_seed(splits)
    rows = torch.stack(
        [torch.randperm(kv_len, generator=gen)[:q_len].sort().values for _ in range(2)]
    )
    rows_p, *blocks = block_mask.split_block_indices(rows, kv_len, block, splits)
    mask = block_mask.assemble_block_mask(rows_p, blocks, block)
    chunk = kv_len // splits
    assert mask.seq_lengths[1] == chunk and rows_p.shape[0] == 2 * splits
    any_cov, full_cov = coverage(mask, q_len, chunk, block)
    q_pad = rows_p.shape[1]
    padded = torch.cat([rows, rows[:, -1:].expand(2, q_pad - q_len)], dim=1)
    for s in range(splits):
        keys = s * chunk + torch.arange(chunk)
        allowed = keys[None, None, :] <= padded[:, :, None]  # [B, Qpad, chunk]
        got_any, got_full = any_cov[s * 2 : (s + 1) * 2], full_cov[s * 2 : (s + 1) * 2]
        assert not (allowed & ~got_any).any()
        assert not (got_full & ~allowed).any()


def test_split_block_indices_refuses_uneven_chunks():
    with pytest.raises(ValueError, match="kv_len=302 is not divisible by splits=4"):
        block_mask.split_block_indices(torch.arange(10)[None], 302, 16, 4)


def test_merge_splits_equals_attention_over_all_keys():
    """Hand check of the log-sum-exp merge: softmax attention over two key halves, merged,
    equals it over all keys; a chunk a query sees nothing of (lse -inf) has no weight."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 5, 8, generator=gen, dtype=torch.float64) for _ in range(3))
    k, v = torch.randn(1, 2, 6, 8, generator=gen, dtype=torch.float64), k.new_zeros(1, 2, 6, 8)
    v.normal_(generator=gen)
    scores = q @ k.transpose(-1, -2)
    scores[:, :, 0, 3:] = float("-inf")  # query 0 sees only the first half
    full = torch.softmax(scores, dim=-1) @ v
    parts, lses = [], []
    for half in (slice(0, 3), slice(3, 6)):
        s = scores[..., half]
        lse = torch.logsumexp(s, dim=-1)
        p = torch.where(torch.isfinite(lse)[..., None], torch.softmax(s, dim=-1), 0.0)
        parts.append(torch.nan_to_num(p) @ v[:, :, half])
        lses.append(lse)
    merged = fused.merge_splits(torch.cat(parts), torch.cat(lses), 2)
    assert torch.allclose(merged.double(), full, atol=1e-6)


@pytest.mark.parametrize("splits", [2, 4])
def test_fused_layer_with_key_splits_equals_reference(splits, monkeypatch, region_calls):
    """kernel=fused with FLEX_KV_SPLITS (uncompiled FlexAttention on CPU, batch 1) computes the
    reference's function; batch 2 keeps one call over all keys."""
    monkeypatch.setattr(fused, "FLEX_KV_SPLITS", splits)
    ref, fast = selective_pair("llama", keep=0.33, kernel="fused")
    assert fused.kv_splits(1, 512) == splits and fused.kv_splits(2, 512) == 1
    assert fused.kv_splits(1, 300) == 1  # chunks must be whole 128-key blocks
    for shape in ((1, 512), (2, 512)):
        ids = torch.randint(3, 96, shape, generator=torch.Generator().manual_seed(5))
        with torch.inference_mode():
            a = ref(input_ids=ids, use_cache=False).logits
            b = fast(input_ids=ids, use_cache=False).logits
        assert rel(b, a) < 1e-5, shape
    assert len(region_calls) == 4


def test_one_region_equals_reference_and_compiles_fullgraph(monkeypatch, region_calls):
    """FUSED_REGIONS=1: through the registry (uncompiled on CPU) the reference's function; and
    region 1, the BlockMask and region 2 trace as one graph (inductor on CPU), same output."""
    monkeypatch.setattr(fused, "FUSED_REGIONS", 1)
    ref, fast = selective_pair("llama", keep=0.33, kernel="fused")
    ids = torch.randint(3, 96, (2, 300), generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        assert rel(fast(input_ids=ids, use_cache=False).logits, ref(input_ids=ids).logits) < 1e-5
    assert len(region_calls) == 2  # region 2's function ran inside the one region, per layer
    layer = fast.model.layers[1]
    h = torch.randn(1, 256, 64, generator=torch.Generator().manual_seed(1))
    pos = fast.model.rotary_emb(h, torch.arange(256)[None])
    attn, cfg = layer.self_attn, layer.self_attn.config
    shape = (85, False, cfg.num_attention_heads, cfg.num_key_value_heads, attn.head_dim, 1)
    args = (h, *pos, fused.layer_weights(layer), shape, attn.scaling)
    torch._dynamo.reset()
    with torch.inference_mode():
        eager = fused.one_region(*args)
        graph = torch.compile(fused.one_region, dynamic=False, fullgraph=True)(*args)
    torch._dynamo.reset()
    assert rel(graph, eager) < 1e-5
