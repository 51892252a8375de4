import json

import pytest
import torch

from harness import random_models as rm
from harness.models import ModelSpec, load_model, resolve_source
from harness.runner import RunSpec, SuiteSpec, execute
from skipbench.errors import InvalidInput

# Parameter counts published for each model (model cards / papers), independent of our code.
PUBLISHED_PARAMS = {
    "llama-2-7b": 6_738_415_616,
    "llama-2-70b": 68_976_648_192,
    "llama-3-8b": 8_030_261_248,
    "mistral-7b": 7_241_732_096,
    "qwen2.5-7b": 7_615_616_512,
}

TINY = {
    "_source": "test",
    "model_type": "llama",
    "vocab_size": 300,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128,
    "bos_token_id": 1,
    "eos_token_id": 2,
}


@pytest.fixture
def tiny_configs(tmp_path, monkeypatch):
    (tmp_path / "tiny-llama.json").write_text(json.dumps(TINY))
    monkeypatch.setattr(rm, "CONFIG_DIR", tmp_path)
    return tmp_path


def test_shipped_configs_are_listed():
    assert rm.available_configs() == sorted(PUBLISHED_PARAMS)


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_shipped_configs_match_published_parameter_counts(name):
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):  # shapes only, no memory
        model = AutoModelForCausalLM.from_config(rm.load_config(name))
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED_PARAMS[name]


def test_config_name_rejects_unknown():
    assert rm.config_name("config:llama-2-7b") == "llama-2-7b"
    with pytest.raises(InvalidInput, match="unknown config 'gpt-5'"):
        rm.config_name("config:gpt-5")
    with pytest.raises(InvalidInput):
        resolve_source("config:nope")


def test_bookkeeping_keys_are_dropped():
    values = rm.config_dict("llama-2-7b")
    assert "_source" not in values and values["num_hidden_layers"] == 32


def test_load_model_builds_random_weights(tiny_configs):
    lm = load_model(ModelSpec(source="config:tiny-llama", device="cpu", dtype="float32"))
    info = lm.info
    assert info["random_weights"] is True and info["source_kind"] == "random"
    assert info["num_layers"] == 3 and info["model_type"] == "llama"
    assert info["params"] == sum(p.numel() for p in lm.model.parameters())
    assert info["display"] == "config:tiny-llama" and info["dtype"] == "float32"
    assert len(info["hash"]) == 64
    weight = lm.model.model.layers[0].mlp.up_proj.weight
    assert torch.isfinite(weight).all() and weight.std() > 0  # initialised, not zeros
    out = lm.model(input_ids=torch.tensor([[1, 5, 7]])).logits
    assert out.shape == (1, 3, 300)


def test_same_seed_same_weights_other_seed_differs():
    cfg = rm.load_config("llama-2-7b", **{k: v for k, v in TINY.items() if not k.startswith("_")})
    a, b, c = (rm.build_model(cfg, "cpu", torch.float32, seed=s) for s in (0, 0, 1))
    wa, wb, wc = (m.model.layers[1].self_attn.q_proj.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_byte_tokenizer_round_trip():
    tok = rm.ByteTokenizer(300)
    ids = tok("héllo", return_tensors="pt").input_ids
    assert ids[0, 0].item() == tok.bos_token_id and ids.shape == (1, 1 + len("héllo".encode()))
    assert tok.decode(ids[0]) == "héllo"
    with pytest.raises(InvalidInput):
        rm.ByteTokenizer(100)


def test_runner_refuses_quality_suites_on_random_weights(tiny_configs):
    spec = RunSpec(
        model=ModelSpec(source="config:tiny-llama", device="cpu"), suites=(SuiteSpec("perplexity"),)
    )
    with pytest.raises(InvalidInput, match="random weights"):
        execute(spec)


def test_runner_accepts_throughput_on_random_weights(tiny_configs):
    params = dict(
        prefill_seq_lens="8", prompt_len=4, new_tokens=3, warmup=0, repeats=1, decode_repeats=1
    )
    spec = RunSpec(
        model=ModelSpec(source="config:tiny-llama", device="cpu"),
        suites=(SuiteSpec("throughput", params),),
    )
    out = execute(spec)
    tasks = {r["task"] for r in out["results"]}
    assert tasks == {"prefill/b1x8", "decode-eager/b1p4n3", "decode-graph/b1p4n3"}
    assert all(r["value"] >= 0 for r in out["results"])  # tpot may round to 0 on a noisy CPU
    assert all(r["value"] > 0 for r in out["results"] if r["metric"] == "tokens_per_s")
    assert out["provenance"]["spec"]["model"]["source"] == "config:tiny-llama"


def test_throughput_of_a_method_times_dense_in_the_same_process(tiny_configs, sqlite_url):
    """A method's throughput run stores speedup = its tokens/s over dense's, both timed here."""
    from db.store import Store

    params = dict(prefill_seq_lens="8", decode_batch_sizes="", warmup=0, repeats=4, rounds=2)
    spec = RunSpec(
        model=ModelSpec(source="config:tiny-llama", device="cpu"),
        method="orthorank",
        method_params={"layers": "1", "keep_ratio": 0.5},
        suites=(SuiteSpec("throughput", params),),
    )
    out = execute(spec, Store(sqlite_url))
    by_metric = {r["metric"]: r["value"] for r in out["results"]}
    stored = {a.name: a.payload for a in Store(sqlite_url).artifacts(out["run_id"])}
    art = stored["throughput"]
    dense = next(r for r in art if r["side"] == "dense")
    method = next(r for r in art if r["side"] == "method")
    assert dense["repeats"] == method["repeats"] == 4  # two rounds of two, pooled
    assert by_metric["speedup"] == pytest.approx(method["tokens_per_s"] / dense["tokens_per_s"])
    assert by_metric["tokens_per_s"] == pytest.approx(method["tokens_per_s"])
    assert out["method"]["details"]["kernel"] == "reference"
    assert stored["suite_info"]["baseline"].startswith("dense timed in the same process")
