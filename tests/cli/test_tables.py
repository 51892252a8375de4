"""``skipbench run``'s table shows each suite's declared headline metrics, nothing else."""

from cli.common import console
from cli.tables import headline_metrics, print_runs


def _row(suite, task, metric, value, hib=True):
    return {"suite": suite, "task": task, "metric": metric, "value": value, "higher_is_better": hib}


def test_table_columns_are_the_declared_headline_metrics(monkeypatch):
    monkeypatch.setattr(console, "width", 400)  # one line per row: headers unbroken
    record = {
        "run_id": 7,
        "model": {"id": "tiny"},
        "method": {"name": "dense", "details": {}},
        "sparsity": 0.0,
        "status": "succeeded",
        "results": [
            _row("perplexity", "wikitext2", "perplexity", 19.13, False),
            _row("perplexity", "wikitext2", "nll", 2.95, False),
            _row("zeroshot", "lambada_openai", "perplexity", 31.5, False),
            _row("zeroshot", "piqa", "acc_norm", 0.61),
            _row("throughput", "prefill/b1x64", "latency_ms", 3.0, False),
            _row("throughput", "prefill/b1x64", "tokens_per_s", 21333.0),
            _row("throughput", "prefill/b1x64", "peak_memory_gib", 1.5, False),
            _row("sleepy", "wait", "waited", 1.0, False),  # no suite of that name here
        ],
    }
    with console.capture() as captured:
        print_runs([record], title="t")
    text = captured.get()
    for header in ("wikitext2 perplexity ↓", "lambada_openai perplexity ↓", "piqa acc_norm ↑", "tokens_per_s ↑", "19.13", "21,333"):  # fmt: skip
        assert header in text, header
    for hidden in ("nll", "latency", "peak_memory", "waited"):
        assert hidden not in text, hidden


def test_unknown_suites_have_no_headline_metrics():
    shown = headline_metrics({"zeroshot", "no-such-suite"})
    assert shown == {"no-such-suite": (), "zeroshot": ("perplexity", "average", "acc", "acc_norm")}
