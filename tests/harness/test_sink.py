"""Sink diagnostics against a plain recomputation from ``output_hidden_states``."""

import json
import sys

import pytest
import torch

from harness.analysis.sink import depth_summary, sink_curves
from methods.layers import decoder_layers
from tests.tiny import tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _rms_norm(h, weight, eps, gemma):
    """RMSNorm written out: h / sqrt(mean(h^2) + eps), times w (Llama) or (1 + w) (Gemma)."""
    scale = (1 + weight) if gemma else weight
    return h / torch.sqrt(h.pow(2).mean(-1, keepdim=True) + eps) * scale


def _cos(a, b):
    return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))


def _reference(model, ids, gemma):
    with torch.no_grad():
        states = model(input_ids=ids, output_hidden_states=True).hidden_states
    out = {
        k: []
        for k in (
            "mean_cos",
            "mean_abs_cos",
            "sink_change",
            "sink_change_raw",
            "sink_rms",
            "token_rms",
        )
    }
    prev = None
    for i, layer in enumerate(decoder_layers(model)):
        h = states[i].double()  # the input of layer i
        norm = layer.input_layernorm
        n = _rms_norm(
            h,
            norm.weight.double(),
            norm.eps if hasattr(norm, "eps") else norm.variance_epsilon,
            gemma,
        )
        cos = torch.stack([_cos(n[:, t], n[:, 0]) for t in range(1, ids.shape[1])], dim=1)
        out["mean_cos"].append(cos.mean().item())
        out["mean_abs_cos"].append(cos.abs().mean().item())
        out["sink_rms"].append(h[:, 0].pow(2).mean().sqrt().item())
        out["token_rms"].append(h[:, 1:].pow(2).mean().sqrt().item())
        if prev is None:
            out["sink_change"].append(None)
            out["sink_change_raw"].append(None)
        else:
            out["sink_change"].append((1 - _cos(n[:, 0], prev[0])).mean().item())
            out["sink_change_raw"].append((1 - _cos(h[:, 0], prev[1])).mean().item())
        prev = (n[:, 0], h[:, 0])
    return out


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "gemma3_text"])
def test_curves_equal_plain_recomputation(model_type):
    model = tiny_model(model_type, 5, seed=2)
    for layer in decoder_layers(model):  # non-trivial norm weights
        layer.input_layernorm.weight.data.uniform_(0.5, 1.5)
    ids = torch.randint(3, 96, (3, 20), generator=torch.Generator().manual_seed(0))
    got = sink_curves(model, ids, batch_size=2)
    want = _reference(model, ids, gemma=model_type.startswith("gemma"))
    assert (
        got["layers"] == list(range(5)) and got["windows"] == 3 and got["tokens_per_window"] == 20
    )
    for key, values in want.items():
        assert (
            got[key][0] is None
            if values[0] is None
            else got[key][0] == pytest.approx(values[0], abs=1e-5)
        )
        assert got[key][1:] == pytest.approx(values[1:], abs=1e-5), key


def test_identical_tokens_are_fully_aligned_and_sink_change_zero_for_identity_layers():
    """Hand-worked case: every position holds the same token and the layers add nothing."""
    model = tiny_model("llama", 3)
    for layer in decoder_layers(model):
        layer.self_attn.o_proj.weight.data.zero_()
        layer.mlp.down_proj.weight.data.zero_()
    ids = torch.full((2, 8), 7)
    curves = sink_curves(model, ids)
    assert curves["mean_cos"] == pytest.approx([1.0] * 3, abs=1e-6)
    assert curves["sink_change_raw"][1:] == pytest.approx([0.0, 0.0], abs=1e-6)
    summary = depth_summary(curves)
    assert summary["mean_cos_early"] == pytest.approx(1.0, abs=1e-6)


def test_cli_stores_a_dense_analysis_run(tiny_model_dir, shared_data_dir, monkeypatch, capsys):
    from cli.main import main
    from db.store import Store
    from skipbench.settings import get_settings

    argv = [
        "skipbench",
        "analyze",
        "sink",
        "--model",
        str(tiny_model_dir),
        "--limit",
        "2",
        "--seq-len",
        "32",
        "--json",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    main()
    out = capsys.readouterr().out
    assert "sink analysis of" in out
    printed = json.loads(out.strip().splitlines()[-1])
    store = Store(get_settings().db_url)
    (run,) = store.runs()
    assert (run.status, run.method_name, run.sparsity) == ("succeeded", "dense", 0.0)
    assert run.suites["analysis"]["task"] == "wikitext2"
    assert "wikitext2/test.jsonl" in run.data_files
    (artifact,) = store.artifacts(run.id)
    assert (artifact.suite, artifact.name) == ("analysis", "sink")
    payload = artifact.payload
    assert payload == printed
    assert (
        payload["version"] == 1 and payload["windows"] == 2 and payload["tokens_per_window"] == 32
    )
    assert len(payload["mean_cos"]) == len(payload["layers"]) == 4
    assert payload["sink_change"][0] is None and len(payload["sink_change"]) == 4
    assert store.results([run.id]) == []


@pytest.mark.parametrize(
    ("extra", "needle"),
    [(["--task", "lambada"], "unknown task 'lambada'"), (["--limit", "0"], "limit=0")],
)
def test_cli_rejects_bad_input_in_one_line(tiny_model_dir, monkeypatch, capsys, extra, needle):
    from cli.main import main

    monkeypatch.setattr(
        sys, "argv", ["skipbench", "analyze", "sink", "--model", str(tiny_model_dir), *extra]
    )
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
