import math
from types import SimpleNamespace

import pytest
import torch

from harness.suites.perplexity.suite import PerplexityConfig, PerplexitySuite, window_nll
from harness.tokens import sample_windows, windows
from skipbench.errors import InvalidInput


class UniformLM(torch.nn.Module):
    """Every next token equally likely: perplexity must equal the vocabulary size."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, use_cache=False):
        return SimpleNamespace(logits=torch.zeros(*input_ids.shape, self.vocab))


class CharTokenizer:
    def __call__(self, text, return_tensors=None):
        return SimpleNamespace(input_ids=torch.tensor([[ord(c) % 50 for c in text]]))


def test_uniform_logits_give_vocab_size(monkeypatch):
    from harness import data

    text = "abcdefghij" * 40  # 400 tokens
    monkeypatch.setattr(
        data,
        "EVAL_TEXTS",
        {"wikitext2": lambda source: data.TextData("wikitext2", "t", text, "test", {})},
    )
    lm = SimpleNamespace(model=UniformLM(50), tokenizer=CharTokenizer(), device=torch.device("cpu"))
    suite = PerplexitySuite(PerplexityConfig(seq_len=64, batch_size=3))
    out = suite.run(lm, ctx=SimpleNamespace(report=lambda *a: None))
    ppl = next(r for r in out.results if r.metric == "perplexity")
    assert ppl.value == pytest.approx(50.0, rel=1e-6)  # log_softmax runs in float32
    assert ppl.n == 400 // 64


def test_window_nll_hand_computed():
    """Two-token vocabulary with fixed logits: NLL computed by hand."""

    class Fixed(torch.nn.Module):
        def forward(self, input_ids, use_cache=False):
            logits = torch.tensor([math.log(3.0), 0.0]).expand(
                *input_ids.shape, 2
            )  # p(0)=3/4, p(1)=1/4
            return SimpleNamespace(logits=logits)

    batch = torch.tensor([[0, 0, 1, 1]])  # predicts 0, 1, 1
    expected = -(math.log(0.75) + 2 * math.log(0.25)) / 3
    assert window_nll(Fixed(), batch).item() == pytest.approx(expected, rel=1e-6)  # float32 softmax


def test_windows_are_non_overlapping_and_limited():
    ids = torch.arange(100).unsqueeze(0)
    w = windows(ids, 30)
    assert w.shape == (3, 30) and w[1, 0] == 30
    assert windows(ids, 30, limit=2).shape == (2, 30)
    with pytest.raises(InvalidInput, match="fewer than one window"):
        windows(ids, 200)


def test_sample_windows_seeded_and_distinct():
    ids = torch.arange(1000).unsqueeze(0)
    a = sample_windows(ids, 10, 5, seed=1)
    b = sample_windows(ids, 10, 5, seed=1)
    assert torch.equal(a, b)
    assert len({int(r[0]) for r in a}) == 5
    assert all(int(r[0]) % 10 == 0 for r in a)
    with pytest.raises(InvalidInput, match="gives 100 windows of 10 tokens; asked for 101"):
        sample_windows(ids, 10, 101, seed=0)


def test_config_validation():
    with pytest.raises(InvalidInput, match="seq_len=1"):
        PerplexityConfig(seq_len=1)
    with pytest.raises(InvalidInput, match="limit=0"):
        PerplexityConfig(limit=0)
    with pytest.raises(InvalidInput, match="unknown perplexity task"):
        PerplexitySuite(PerplexityConfig(tasks=("ptb",)))
