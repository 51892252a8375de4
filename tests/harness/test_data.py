import pytest

from harness import data
from skipbench.errors import InvalidInput


def test_local_wikitext_is_the_joined_rows_with_hash(shared_data_dir):
    text = data.wikitext2_test("local")
    rows = data.read_jsonl(shared_data_dir / "wikitext2/test.jsonl")
    assert len(rows) == 4358
    assert text.text == "\n\n".join(r["text"] for r in rows)
    sums = dict(
        reversed(line.split())
        for line in (shared_data_dir / "SHA256SUMS").read_text().splitlines()
        if line.strip()
    )
    ((path, sha),) = text.files.items()
    assert path == "wikitext2/test.jsonl"
    assert sums.get(path, sums.get("./" + path)) == sha


def test_c4_eval_and_calibration_are_disjoint(shared_data_dir):
    eval_text = data.c4_validation("local")
    calib = data.calibration_text("c4", "local")
    docs = [r["text"] for r in data.read_jsonl(shared_data_dir / "c4/validation_2k.jsonl")]
    assert eval_text.name == "c4_2k" and "2k-document subset" in eval_text.label
    assert eval_text.text == " ".join(docs[:1100])
    assert calib.text == "\n\n".join(docs[1100:])
    assert eval_text.max_windows == 256


def test_missing_local_file_is_one_clear_line(monkeypatch, tmp_path):
    from skipbench.settings import reset_settings_cache

    monkeypatch.setenv("SKIPBENCH_SHARED_DIR", str(tmp_path / "nowhere"))
    reset_settings_cache()
    with pytest.raises(
        InvalidInput,
        match="local data file .*wikitext2/test.jsonl not found; set SKIPBENCH_SHARED_DIR",
    ):
        data.wikitext2_test("local")
    with pytest.raises(InvalidInput, match="unknown perplexity task 'ptb'; allowed: wikitext2, c4"):
        data.eval_text("ptb")
    with pytest.raises(InvalidInput, match="unknown calibration dataset"):
        data.calibration_text("pile")
