"""Dense SmolLM2-135M on the first 2 WikiText-2 windows equals a plain reference computation."""

import json
import math

import pytest
import torch

pytestmark = pytest.mark.slow


def test_smollm2_wikitext2_matches_reference(smollm2_dir, shared_data_dir, sqlite_url):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from db.store import Store
    from harness.models import ModelSpec
    from harness.runner import RunSpec, SuiteSpec, execute

    spec = RunSpec(
        model=ModelSpec(source=str(smollm2_dir), device="cpu", dtype="float32"),
        suites=(SuiteSpec("perplexity", {"tasks": ["wikitext2"], "limit": 2}),),
    )
    record = execute(spec, Store(sqlite_url))
    ours = next(r for r in record["results"] if r["metric"] == "perplexity")

    # reference: written here from the protocol, using the model's own labels= loss
    with open(shared_data_dir / "wikitext2/test.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32).eval()
    ids = tokenizer("\n\n".join(r["text"] for r in rows), return_tensors="pt").input_ids
    losses = []
    with torch.no_grad():
        for i in range(2):
            window = ids[:, i * 2048 : (i + 1) * 2048]
            losses.append(model(input_ids=window, labels=window).loss.item())
    reference = math.exp(sum(losses) / len(losses))

    assert ours["n"] == 2
    assert ours["value"] == pytest.approx(reference, rel=1e-5)
    assert 10 < reference < 40  # SmolLM2-135M is around 22 on WikiText-2
    assert record["model"]["hash"] and record["model"]["params"] == 134_515_008
