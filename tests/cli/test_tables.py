"""``skipbench run``'s table shows each suite's declared headline metrics, nothing else."""

import csv
import io

from cli.common import console
from cli.tables import MODEL_CHARS, headline_metrics, print_runs, runs_to_wide_csv, short_model


def _row(suite, task, metric, value, hib=True):
    return {"suite": suite, "task": task, "metric": metric, "value": value, "higher_is_better": hib}


def _record(run_id=7, model="tiny", results=None, **extra):
    return {"run_id": run_id, "model": {"id": model}, "method": {"name": "dense", "details": {}},
            "sparsity": 0.0, "status": "succeeded", "results": results or [], **extra}  # fmt: skip


def test_table_columns_are_the_declared_headline_metrics(monkeypatch):
    monkeypatch.setattr(console, "width", 400)  # one line per row: every column fits
    record = _record(
        results=[
            _row("perplexity", "wikitext2", "perplexity", 19.13, False),
            _row("perplexity", "wikitext2", "nll", 2.95, False),
            _row("zeroshot", "lambada_openai", "perplexity", 31.5, False),
            _row("zeroshot", "piqa", "acc_norm", 0.61),
            _row("throughput", "prefill/b1x64", "latency_ms", 3.0, False),
            _row("throughput", "prefill/b1x64", "tokens_per_s", 21333.0),
            _row("throughput", "prefill/b1x64", "peak_memory_gib", 1.5, False),
            _row("sleepy", "wait", "waited", 1.0, False),  # no suite of that name here
        ],
    )
    with console.capture() as captured:
        print_runs([record], title="t")
    text = captured.get()
    # two-line headers: the task (throughput shapes readable), then the metric's short label
    for header in ("wikitext2", "ppl ↓", "lambada openai", "piqa", "acc_norm ↑", "prefill 1x64", "tokens/s ↑", "19.13", "21,333"):  # fmt: skip
        assert header in text, header
    for hidden in ("nll", "latency", "peak", "waited", "not shown"):
        assert hidden not in text, hidden


def test_table_fits_80_columns_without_cutting_numbers():
    """At 80 columns: no line wider, model names shortened, every shown number whole, the
    columns left out named (they are in csv/json)."""
    results = [
        _row("perplexity", "wikitext2", "perplexity", 20.24, False),
        _row("perplexity", "c4", "perplexity", 35.38, False),
        _row("zeroshot", "piqa", "acc_norm", 0.6123),
        _row("zeroshot", "average", "average", 0.55),
        _row("throughput", "prefill/b1x2048", "speedup", 1.25),
        _row("throughput", "decode-eager/b1p32n8", "tokens_per_s", 21333.0),
    ]
    records = [
        _record(7, "HuggingFaceTB/SmolLM2-135M-Instruct-with-a-very-long-name", results),
        _record(8, "smollm2-135m-instruct", results),
    ]
    with console.capture() as captured:
        print_runs(records, title="SkipBench results", width=80)
    text = captured.get()
    table, _, note = text.partition("not shown")
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "20.24" in table and "35.38" in table and "2…" not in table
    assert "HuggingFaceTB" not in table and short_model(records[0]["model"]["id"]) in table
    assert len(short_model(records[0]["model"]["id"])) <= MODEL_CHARS
    assert "prefill 1x2048 speedup ↑" in note and "decode eager 1x32+8 tokens/s ↑" in note
    assert "--format csv" in note


def test_short_model_names():
    assert short_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "SmolLM2-135M-Instruct"
    assert short_model("/models/llama/") == "llama"
    cut = short_model("a" * 10 + "b" * 30, limit=12)
    assert len(cut) == 12 and cut.startswith("a") and cut.endswith("b") and "…" in cut


def test_wide_csv_has_layers_device_units_and_evaluation_settings():
    record = _record(
        3,
        "smollm2-135m-instruct",
        [{**_row("perplexity", "wikitext2", "perplexity", 20.24, False), "unit": ""},
         {**_row("throughput", "prefill/b1x2048", "tokens_per_s", 1e5), "unit": "tokens/s"}],
        suites={"perplexity": {"limit": 1, "seq_len": 256}, "throughput": {"limit": None}},
        merged_runs=[3, 1],
        provenance={"device": "NVIDIA H200"},
    )  # fmt: skip
    record["method"] = {
        "name": "shortgpt", "config": {"sparsity": 0.1},
        "details": {"removed_layers": [25, 26, 21],
                    "calibration": {"dataset": "c4", "num_samples": 32, "seq_len": 128}},
    }  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(runs_to_wide_csv([record]))))
    assert len(rows) == 1
    row = rows[0]
    assert row["layers"] == "25,26,21" and row["device"] == "NVIDIA H200"
    assert row["limit"] == "perplexity=1" and row["seq_len"] == "256"
    assert row["calibration"] == "c4 · 32 × 128 tokens" and row["merged_runs"] == "3,1"
    assert row["strategy"] == "remove" and "perplexity: limit=1; seq_len=256" in row["suite_config"]
    assert row["perplexity/wikitext2/perplexity (↓)"] == "20.24"
    assert row["throughput/prefill/b1x2048/tokens_per_s [tokens/s] (↑)"] == "100000.0"


def test_unknown_suites_have_no_headline_metrics():
    shown = headline_metrics({"zeroshot", "no-such-suite"})
    assert shown == {"no-such-suite": (), "zeroshot": ("perplexity", "average", "acc", "acc_norm")}
