"""Calibration protocols: SLEB's ``rows`` unit and ShortGPT's PG19 per-book windows."""

from __future__ import annotations

import pytest
import torch

import harness.calibration as calibration
from harness.data import CalibrationDocuments
from methods.base import ApplyContext, CalibrationSpec
from methods.shortgpt import ShortGPT, ShortGPTConfig, block_influence, compute_block_influence
from methods.sleb import SLEBConfig
from skipbench.errors import InvalidInput
from tests.tiny import tiny_model, tiny_tokenizer

DOCS = tuple(f"document {i} " + "abcdefghij"[i % 10] * (7 + i) for i in range(12))


@pytest.fixture
def fake_docs(monkeypatch):
    def fake(dataset, source="auto"):
        joiner = "" if dataset == "pg19" else " "
        return CalibrationDocuments(dataset, f"fake {dataset}", DOCS, joiner, "test")

    monkeypatch.setattr(calibration, "calibration_documents", fake)


def test_rows_join_shuffled_documents_then_cut_windows(fake_docs):
    tok = tiny_tokenizer()
    ids, record = calibration.calibration_ids(CalibrationSpec("c4", 5, 16, 3, "rows"), tok)
    order = calibration.shuffled_order(len(DOCS), 3)
    assert sorted(order) == list(range(len(DOCS))) and order != list(range(len(DOCS)))
    text = " ".join(DOCS[i] for i in order[:5])  # the five shuffled rows, tokenized once
    expected = tok(text, return_tensors="pt").input_ids[0]
    windows = len(expected) // 16
    assert ids.shape == (windows, 16)
    assert torch.equal(ids.reshape(-1), expected[: windows * 16])
    assert record["unit"] == "rows" and record["windows"] == windows
    assert record["tokens_available"] == len(expected)
    assert calibration.shuffled_order(len(DOCS), 4) != order  # the seed picks the rows


def test_rows_too_few_refused_in_one_line(fake_docs):
    tok = tiny_tokenizer()
    with pytest.raises(InvalidInput, match="calib_samples=13 rows asked for; fake c4 has 12"):
        calibration.calibration_ids(CalibrationSpec("c4", 13, 16, 0, "rows"), tok)
    with pytest.raises(InvalidInput, match="fewer than one window of calib_seq_len=4096"):
        calibration.calibration_ids(CalibrationSpec("c4", 2, 4096, 0, "rows"), tok)


def test_pg19_windows_per_book_with_short_tails(fake_docs):
    tok = tiny_tokenizer()
    ids, record = calibration.calibration_ids(CalibrationSpec("pg19", 9, 8, 1), tok)
    expected = []
    for i in calibration.shuffled_order(len(DOCS), 1):
        book = tok(DOCS[i], return_tensors="pt").input_ids
        expected += [book[:, s : s + 8] for s in range(0, book.shape[1], 8)]
    assert [w.tolist() for w in ids] == [w.tolist() for w in expected[:9]]
    assert any(w.shape[1] < 8 for w in ids)  # the last window of a book is kept, shorter
    assert record["tokens_used"] == sum(w.shape[1] for w in ids)
    with pytest.raises(InvalidInput, match="PG19 validation gives"):
        calibration.calibration_ids(CalibrationSpec("pg19", 10_000, 8, 1), tok)


def test_official_shortgpt_cosine_counts_nan_as_half():
    x = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [3.0, 4.0]]])
    y = torch.tensor([[[2.0, 0.0], [1.0, 1.0], [-3.0, -4.0]]])
    assert block_influence(x, y, nan_as=0.5) == (pytest.approx(1 + 0.5 - 1), 3)
    assert block_influence(x, y) == (pytest.approx(0.0, abs=1e-6), 3)  # default: cos(0, y) = 0


def test_shortgpt_reads_windows_of_different_lengths():
    model = tiny_model("llama", num_layers=4)
    windows = [torch.randint(3, 90, (1, 16)), torch.randint(3, 90, (1, 5))]
    bi = compute_block_influence(model, windows)
    with torch.no_grad():
        hs = [model(w, output_hidden_states=True).hidden_states for w in windows]
    for i in range(3):  # token-weighted over both windows (the last layer's entry is normed)
        cos = torch.cat(
            [torch.nn.functional.cosine_similarity(h[i][0], h[i + 1][0], dim=-1) for h in hs]
        )
        assert bi[i] == pytest.approx(1 - cos.mean().item(), abs=1e-5)
    outcome = ShortGPT(ShortGPTConfig(num_layers=1, calib_dataset="pg19")).apply(
        model, ApplyContext(calibration=windows)
    )
    sums = outcome.details["block_influence_sum"]
    assert sums[0] == pytest.approx(bi[0] * 21, abs=1e-3)


def test_sleb_defaults_to_the_official_rows_unit():
    assert SLEBConfig().calibration_spec() == CalibrationSpec("c4", 128, 2048, 0, "rows")
    assert SLEBConfig(calib_unit="windows").calibration_spec().unit == "windows"
    with pytest.raises(
        InvalidInput, match="calib_unit='docs' is not allowed; allowed: rows, windows"
    ):
        SLEBConfig.from_params({"calib_unit": "docs"})


def test_local_c4_rows_use_documents_the_evaluation_never_sees(shared_data_dir):
    from harness.data import C4_EVAL_DOCS, read_jsonl

    docs = [r["text"] for r in read_jsonl(shared_data_dir / "c4" / "validation_2k.jsonl")]
    data = calibration.calibration_documents("c4", "local")
    assert data.docs == tuple(docs[C4_EVAL_DOCS:]) and data.joiner == " "
