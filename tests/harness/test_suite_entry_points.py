"""The worked example of docs/adding-a-suite.md, installed for real and run through SkipBench.

The example package (examples/skipbench-next-token) is pip-installed into a temporary target
folder, never into the venv; subprocesses see it through PYTHONPATH, so entry-point discovery
is exactly what an installed plug-in gets, and this process's registry stays untouched.
"""

import json
import math
import os
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "skipbench-next-token"
SEQ_LEN, WINDOWS = 16, 3


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("suite-plugin")
    source = work / "src"
    shutil.copytree(EXAMPLE, source)  # the build writes into the source folder: keep the repo clean
    site = work / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
           "--no-index", "--target", str(site), str(source)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return site


def _run(site: Path, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1", "COLUMNS": "300"}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def _load(model_dir: Path):  # noqa: ANN202
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    return tok, AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()


def _greedy_text(model_dir: Path) -> str:
    """Windows the tiny model mostly predicts: each its own greedy continuation of one letter
    (the tiny tokenizer has one token per character), a fixed letter where the argmax is not
    a printable character. A random model on ordinary text would score 0 and prove little."""
    import torch

    tok, model = _load(model_dir)
    text = ""
    for w in range(WINDOWS + 1):
        window = "kqzw"[w]
        while len(window) < SEQ_LEN:
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([tok(window)["input_ids"]])).logits
            char = tok.decode([int(logits[0, -1].argmax())])
            window += char if len(char) == 1 and tok(char)["input_ids"] != [] else "x"
        assert len(tok(window)["input_ids"]) == SEQ_LEN
        text += window
    return text


def _top1_by_hand(model_dir: Path, text: str, seq_len: int, limit: int) -> tuple[int, int]:
    """Correct and scored positions, one window and one position at a time."""
    import torch

    tok, model = _load(model_dir)
    ids = tok(text)["input_ids"]
    correct = scored = 0
    for w in range(min(limit, len(ids) // seq_len)):
        window = ids[w * seq_len : (w + 1) * seq_len]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([window])).logits[0]
        for pos in range(seq_len - 1):
            correct += int(logits[pos].argmax()) == window[pos + 1]
            scored += 1
    return correct, scored


def test_plugin_is_not_installed_in_this_environment():
    assert "next-token" not in {ep.name for ep in entry_points(group="skipbench.suites")}


def test_skipbench_run_uses_the_plugin_suite(plugin_site, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SKIPBENCH_HOME", str(tmp_path / "home"))
    text = tmp_path / "notes.txt"
    text.write_text(_greedy_text(tiny_model_dir))
    listing = _run(plugin_site, ["suites"])
    assert listing.returncode == 0, listing.stderr
    assert (
        "next-token" in listing.stdout
        and "top1*" in listing.stdout
        and "path: str = ''" in listing.stdout
    )
    args = ["run", "--model", str(tiny_model_dir), "--device", "cpu", "--dtype", "float32",
            "--suite", "next-token", "--suite-set", f"next-token.path={text}",
            "--seq-len", str(SEQ_LEN), "--limit", str(WINDOWS)]  # fmt: skip
    proc = _run(plugin_site, [*args, "--json"])
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert record["status"] == "succeeded"
    (row,) = record["results"]
    assert (row["suite"], row["task"], row["metric"]) == ("next-token", "text", "top1")
    assert row["higher_is_better"] and row["unit"] == "fraction"
    correct, scored = _top1_by_hand(tiny_model_dir, text.read_text(), SEQ_LEN, WINDOWS)
    assert row["n"] == scored == WINDOWS * (SEQ_LEN - 1)
    assert 0.3 < correct / scored < 1  # the text is mostly, not wholly, the model's own guess
    assert row["value"] == pytest.approx(correct / scored)
    p = correct / scored
    assert row["stderr"] == pytest.approx(math.sqrt(p * (1 - p) / scored))
    table = _run(plugin_site, args)  # the declared headline metric is a column of the run table
    assert table.returncode == 0, table.stderr
    # the header is two lines (task over metric, cli.tables): "text" above "top1 ↑"
    lines = table.stdout.splitlines()
    top = next(i for i, line in enumerate(lines) if "top1 ↑" in line)
    assert "text" in lines[top - 1]
    bad = _run(plugin_site, [*args[:9], "--suite-set", "next-token.path=/no/such.txt"])
    assert bad.returncode == 2 and "path='/no/such.txt' is not an existing file" in bad.stderr
