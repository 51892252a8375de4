"""LongBench suite: truncation, chat-template rule, greedy decoding, data sets, scoring end to end."""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import zipfile

import pytest

from harness.models import LoadedModel, ModelSpec
from harness.suites.base import SuiteContext, build_suite
from harness.suites.longbench import data, declaration
from harness.suites.longbench.metrics import score
from harness.suites.longbench.suite import Generator, LongBenchSuite, length_buckets
from skipbench.errors import InvalidInput

CHAT = "{% for m in messages %}[U]{{ m['content'] }}[/U]{% endfor %}{% if add_generation_prompt %}[A]{% endif %}"


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models on a shared 2-core machine run far faster single-threaded (no OMP spinning)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_lm(chat_template: str | None = None) -> LoadedModel:
    from tokenizers import decoders

    from tests.tiny import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    tok.backend_tokenizer.decoder = decoders.Fuse()  # decode "a", "b" as "ab" (character tokens)
    tok.chat_template = chat_template
    model = tiny_model("llama", num_layers=2, seed=0, max_position_embeddings=4096)
    return LoadedModel(model, tok, ModelSpec(source="tiny"), {})


def test_middle_truncation_keeps_first_and_last_halves():
    lm = tiny_lm()
    gen = Generator(lm, window=80, max_length=None, use_chat=False)
    prompt = "".join(chr(33 + i % 90) for i in range(200))
    ids, truncated = gen.build_prompt("hotpotqa", prompt)  # allowed = 80 - 32 = 48 -> 24 + 24
    assert truncated and lm.tokenizer.decode(ids) == prompt[:24] + prompt[-24:]
    ids, truncated = gen.build_prompt("hotpotqa", prompt[:48])
    assert not truncated and lm.tokenizer.decode(ids) == prompt[:48]
    fixed = Generator(
        lm, window=80, max_length=10, use_chat=False
    )  # max_length overrides the window rule
    assert (
        lm.tokenizer.decode(fixed.build_prompt("gov_report", prompt)[0]) == prompt[:5] + prompt[-5:]
    )


def test_chat_template_except_few_shot_and_code_tasks():
    lm = tiny_lm(CHAT)
    gen = Generator(lm, window=2048, max_length=None, use_chat=True)
    for task in declaration.TASKS:
        text = lm.tokenizer.decode(gen.build_prompt(task, "hi")[0])
        assert text == ("hi" if task in data.NO_CHAT_TASKS else "[U]hi[/U][A]"), task
    assert {"trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p"} == data.NO_CHAT_TASKS
    plain = Generator(lm, window=2048, max_length=None, use_chat=False)
    assert lm.tokenizer.decode(plain.build_prompt("hotpotqa", "hi")[0]) == "hi"


def reference_greedy(
    model, ids: list[int], max_new: int, stop: set[int], min_new: int = 0
) -> list[int]:  # noqa: ANN001
    """Full forward per step, argmax, no cache: what greedy decoding means."""
    import torch

    seq, out = list(ids), []
    for step in range(max_new):
        with torch.no_grad():
            logits = model(torch.tensor([seq])).logits[0, -1].clone()
        if step < min_new:
            logits[list(stop)] = -float("inf")
        nxt = int(logits.argmax())
        out.append(nxt)
        seq.append(nxt)
        if nxt in stop:
            break
    return out


def test_generation_is_plain_greedy_with_the_task_limits():
    lm = tiny_lm()
    gen = Generator(lm, window=512, max_length=None, use_chat=False)
    ids = gen.build_prompt("lcc", "def f(x):\n    return")[0]
    eos = set(gen.eos)
    natural = gen.generate_ids("lcc", ids)
    assert natural[-1] in eos and natural == reference_greedy(
        lm.model, ids, 64, eos
    )  # stops at EOS
    lm.model.lm_head.register_forward_hook(
        lambda m, i, out: out.index_fill(-1, _t(sorted(eos)), -1e9)
    )
    for task in ("lcc", "hotpotqa", "gov_report"):
        got = gen.generate_ids(task, ids)
        assert len(got) == data.MAX_NEW_TOKENS[task] and got == reference_greedy(
            lm.model, ids, len(got), eos
        )


def test_samsum_stops_at_newline_after_at_least_one_token():
    lm = tiny_lm()
    gen = Generator(lm, window=512, max_length=None, use_chat=False)
    newline = gen.newline
    lm.model.lm_head.register_forward_hook(
        lambda m, i, out: out.index_add(-1, _t([newline]), _bias(out))
    )
    ids = gen.build_prompt("samsum", "Dialogue: hi\nSummary:")[0]
    # the newline always wins; samsum may not stop before one token, so it emits the runner-up, then stops
    samsum = gen.generate_ids("samsum", ids)
    assert len(samsum) == 2 and samsum[-1] == newline and samsum[0] != newline
    assert samsum == reference_greedy(lm.model, ids, 128, set(gen.eos) | {newline}, min_new=1)
    # other tasks do not stop at a newline: max_new_tokens newlines
    assert gen.generate_ids("triviaqa", ids) == [newline] * data.MAX_NEW_TOKENS["triviaqa"]


def _t(values):  # noqa: ANN001, ANN202
    import torch

    return torch.tensor(values)


def _bias(out):  # noqa: ANN001, ANN202
    import torch

    return torch.full((*out.shape[:-1], 1), 100.0, dtype=out.dtype)


def test_mini_end_to_end_scores_categories_and_hashes(shared_data_dir):
    lm = tiny_lm()
    suite = LongBenchSuite(LongBenchSuite.Config.from_params({"limit": 1, "window": 600}))
    outcome = suite.run(lm, SuiteContext())
    values = {(r.task, r.metric): r.value for r in outcome.results}
    assert all(task.startswith("mini.") for task, _ in values)
    task_scores = {t: values[(f"mini.{t}", "score")] for t in declaration.TASKS}
    assert len(task_scores) == 21
    for category, members in declaration.CATEGORIES.items():
        expected = statistics.fmean(task_scores[t] for t in members)
        assert values[(f"mini.{category}", "average")] == pytest.approx(expected)
    assert values[("mini.average", "average")] == pytest.approx(
        statistics.fmean(task_scores.values())
    )
    samples = outcome.artifacts["samples"]
    first = {
        t: json.loads((shared_data_dir / f"longbench_mini/{t}.jsonl").open().readline())
        for t in declaration.TASKS
    }
    for task, rows in samples.items():
        (row,) = rows
        assert row["id"] == first[task]["_id"] and row["answers"] == first[task]["answers"]
        assert row["score"] == score(
            task, row["prediction"], row["answers"], first[task].get("all_classes")
        )
        assert task_scores[task] == pytest.approx(100 * row["score"])
        assert row["input_tokens"] <= 600 - data.MAX_NEW_TOKENS[task]
    sums = dict(
        reversed(line.split(maxsplit=1))
        for line in (shared_data_dir / "SHA256SUMS").read_text().splitlines()
    )
    assert len(outcome.data_files) == 21
    for rel, digest in outcome.data_files.items():
        assert sums[rel].strip() == digest
    assert outcome.info["dataset"] == "longbench-mini" and outcome.info["window"] == 600


def test_length_buckets():
    rows = [
        {"length": n, "score": s} for n, s in ((100, 1.0), (3999, 0.0), (4000, 1.0), (9000, 0.5))
    ]
    got = {r.task: (r.value, r.n) for r in length_buckets("e.trec", rows)}
    assert got == {"e.trec@0-4k": (50.0, 2), "e.trec@4-8k": (100.0, 1), "e.trec@8k+": (50.0, 1)}
    assert length_buckets("mini.trec", [{"length": None, "score": 1.0}]) == []


def test_hub_archive_is_formatted_with_the_official_template(monkeypatch):
    buf = io.BytesIO()
    row = {"_id": "x", "input": "What is 2+2 ?", "context": "Question: Who ?\nType: Human", "answers": ["Number"],
           "length": 5000, "all_classes": ["Human", "Number"]}  # fmt: skip
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("data/trec.jsonl", json.dumps(row) + "\n")
        zf.writestr("data/trec_e.jsonl", json.dumps({**row, "_id": "e"}) + "\n")
    monkeypatch.setattr(data, "_hub_archive", lambda: (buf, "abc"))
    loaded = data.load_items("longbench", "trec", None)
    assert loaded.items[0]["prompt"] == (
        "Please determine the type of the question below. Here are some examples of questions.\n\n"
        "Question: Who ?\nType: Human\nWhat is 2+2 ?"
    )
    assert loaded.files == {"hub:THUDM/LongBench/data.zip": "abc"}
    assert data.load_items("longbench-e", "trec", None).items[0]["_id"] == "e"


def test_official_templates_match_the_mini_prompts(shared_data_dir):
    """The mini prompts were formatted with LongBench's templates: every fixed piece appears.
    Known exceptions in the mini set: qasper uses the multi-doc QA template; multi_news adds a
    trailing newline."""
    import re

    for task in declaration.TASKS:
        pieces = re.split(r"\{(?:context|input)\}", data.TEMPLATES[task])
        for line in (shared_data_dir / f"longbench_mini/{task}.jsonl").open():
            prompt = json.loads(line)["prompt"]
            if task == "qasper":
                assert prompt.startswith(data.TEMPLATES["hotpotqa"].split("{context}")[0])
                continue
            assert prompt.startswith(pieces[0]) and all(p in prompt for p in pieces), task
            assert prompt.endswith(pieces[-1]) or (
                task == "multi_news" and prompt.endswith(pieces[-1] + "\n")
            )


def test_dataset_resolution(tmp_path, monkeypatch):
    from skipbench.settings import reset_settings_cache

    monkeypatch.setenv("SKIPBENCH_SHARED_DIR", str(tmp_path))
    reset_settings_cache()
    assert data.resolve_dataset("auto") == "longbench"
    with pytest.raises(InvalidInput, match="not found"):
        data.resolve_dataset("longbench-mini")
    monkeypatch.setenv("SKIPBENCH_OFFLINE", "1")
    reset_settings_cache()
    with pytest.raises(InvalidInput, match="OFFLINE"):
        data.resolve_dataset("auto")


@pytest.mark.parametrize(
    "params, message",
    [({"dataset": "longbench-v2"}, "dataset"), ({"window": "16"}, "window"), ({"window": "300"}, "no prompt room"),
     ({"dataset": "longbench-e", "tasks": "lsht"}, "LongBench-E"), ({"tasks": "mmlu"}, "mmlu"),
     ({"max_length": "1"}, "max_length")],
)  # fmt: skip
def test_bad_config_is_invalid_input(params, message):
    with pytest.raises(InvalidInput, match=message):
        build_suite("longbench", params)


def test_model_window_caps_the_setting():
    lm = tiny_lm()
    lm.model.config.max_position_embeddings = 128
    suite = LongBenchSuite(LongBenchSuite.Config.from_params({"tasks": "gov_report", "limit": 1}))
    with pytest.raises(InvalidInput, match="window=128"):
        suite.run(lm, SuiteContext())


def test_cli_runs_both_suites_and_routes_tasks(tiny_model_dir, shared_data_dir):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "250"}
    args = ["run", "--model", str(tiny_model_dir), "--suite", "zeroshot", "--suite", "longbench",
            "--task", "piqa", "--task", "trec", "--limit", "2", "--suite-set", "longbench.window=256", "--json"]  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    # stderr is a log here: the suite is one progress step that finishes, none left "stopped"
    assert any(line.startswith("longbench: done in") for line in out.stderr.splitlines())
    assert "stopped at" not in out.stderr
    record = json.loads(out.stdout.strip().splitlines()[-1])
    got = {(r["suite"], r["task"], r["metric"]): r for r in record["results"]}
    assert {("zeroshot", "piqa", "acc"), ("zeroshot", "piqa", "acc_norm")} <= set(got)
    assert got[("zeroshot", "piqa", "acc")]["n"] == 2
    assert {("longbench", "mini.trec", "score"), ("longbench", "mini.few_shot", "average")} <= set(
        got
    )
    assert got[("longbench", "mini.trec", "score")]["n"] == 2
    assert "zeroshot/piqa/validation.jsonl" in record["provenance"]["data_files"]
    assert "longbench_mini/trec.jsonl" in record["provenance"]["data_files"]
