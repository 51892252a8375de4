"""Bad input gives one line on stderr naming the value and what is allowed, exit 2, nothing stored
(issue 13, defects 8 and 9): usage errors typer raises, corrupt weights, a name too long for a
path, a bad or unreachable database URL, ids beyond the store's integer range, and ``submit``
input no worker could run."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNREACHABLE_PG = "postgresql+psycopg://postgres@127.0.0.1:1/test"
NO_BROKER = {"SKIPBENCH_BROKER_URL": "redis://127.0.0.1:1/0"}  # a submit that gets through fails


def skipbench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
    )


def one_line(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2, (out.returncode, out.stderr[-3000:])
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    return lines[0]


USAGE = [
    (("run", "--model", "m", "--sparsity", "abc"), ["'--sparsity'", "valid number", "'abc'"]),
    (("run", "--model", "m", "--limit", "abc"), ["'--limit'", "valid integer", "'abc'"]),
    (("status", "-1"), ["-1 is not a valid id", "from 1 to 2147483647"]),
    (("cancel", "abc"), ["valid integer", "'abc'"]),
    (("status", "2147483648"), ["less than or equal to 2147483647", "'2147483648'"]),
    (("retry", "0"), ["greater than or equal to 1"]),
    (("run", "--resume", "99999999999"), ["'--resume'", "2147483647"]),
    (("run", "--bogus"), ["No such option: --bogus", "run --help"]),
    (("bogus",), ["No such command 'bogus'", "commands: run, results"]),
]


@pytest.mark.parametrize(("args", "expected"), USAGE, ids=[" ".join(a) for a, _ in USAGE])
def test_usage_errors_are_one_line(args, expected):
    line = one_line(skipbench(*args))
    assert line.startswith("error: ")
    for part in expected:
        assert part in line


def test_ids_beyond_the_integer_range_on_postgresql(pg_url):
    line = one_line(skipbench("status", "2147483648", env={"SKIPBENCH_DATABASE_URL": pg_url}))
    assert "2147483647" in line


@pytest.fixture(scope="module")
def corrupt_models(tmp_path_factory) -> dict[str, Path]:
    from tests.tiny import save_tiny_model_dir

    root = tmp_path_factory.mktemp("corrupt")
    good = save_tiny_model_dir(root / "good")
    made = {}
    for name in ("truncated", "random", "no_model_type"):
        made[name] = Path(shutil.copytree(good, root / name))
    weights = made["truncated"] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    (made["random"] / "model.safetensors").write_bytes(os.urandom(100_000))
    config = json.loads((made["no_model_type"] / "config.json").read_text())
    del config["model_type"]
    (made["no_model_type"] / "config.json").write_text(json.dumps(config))
    gguf = root / "truncated.gguf"  # magic, version 3, then the header stops mid-field
    gguf.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 5, 3) + b"\x05\x00")
    made["truncated_gguf"] = gguf
    return made


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("truncated", "SafetensorError"),
        ("random", "SafetensorError"),
        ("no_model_type", "model_type"),
        ("truncated_gguf", "struct.error"),
    ],
)
def test_corrupt_weights_are_one_line(corrupt_models, name, detail):
    model = str(corrupt_models[name])
    args = ("--device", "cpu", "--limit", "1", "--seq-len", "16")
    line = one_line(skipbench("run", "--model", model, *args))
    assert line.startswith(f"error: cannot load model {model!r}: ") and detail in line
    assert "expected a Hugging Face checkpoint" in line
    assert json.loads(skipbench("results", "--format", "json", "--all").stdout) == []


def test_a_name_too_long_for_a_path_is_one_line():
    line = one_line(skipbench("run", "--model", "a" * 5000))
    assert "(5000 characters): File name too long" in line and len(line) < 600


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("notaurl", "SKIPBENCH_DATABASE_URL='notaurl' is not a database URL; e.g. sqlite:"),
        (UNREACHABLE_PG, "database postgresql+psycopg://postgres@127.0.0.1:1/test"),
    ],
    ids=["malformed", "unreachable"],
)
@pytest.mark.parametrize(
    "command", [("results",), ("status",), ("cancel", "3"), ("runs", "reconcile")]
)
def test_a_bad_or_unreachable_database_url_is_one_line(url, expected, command):
    line = one_line(skipbench(*command, env={"SKIPBENCH_DATABASE_URL": url}))
    assert expected in line
    if url == UNREACHABLE_PG:
        assert "is not reachable" in line and "Connection refused" in line


def test_a_database_password_is_not_shown():
    url = "postgresql+psycopg://user:s3cret@127.0.0.1:1/test"
    line = one_line(skipbench("results", env={"SKIPBENCH_DATABASE_URL": url}))
    assert "s3cret" not in line and "user:***@127.0.0.1:1" in line


SUBMIT_REFUSED = [
    (
        ("--method", "shortgpt", "--set", "num_layers=1", "--set", "calib_dataset=ptb"),
        "calib_dataset='ptb' is unknown; allowed: c4, wikitext2",
    ),
    (("--method", "shortgpt", "--set", "num_layers=4"), "num_layers=4 must be smaller than"),
    (("--seq-len", "100000"), "seq_len=100000 exceeds the model's context window of 256"),
    (("--device", "cuda:1"), "device='cuda:1' cannot run on a worker"),
]


@pytest.mark.parametrize(
    ("args", "message"), SUBMIT_REFUSED, ids=[m[:24] for _, m in SUBMIT_REFUSED]
)
def test_submit_refuses_jobs_no_worker_can_run(tiny_model_dir, args, message):
    out = skipbench("submit", "--model", str(tiny_model_dir), *args, env=NO_BROKER)
    assert message in one_line(out)
    listed = skipbench("status", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout.splitlines()[-1]) == []


def test_submit_refuses_random_weights_for_quality_suites():
    out = skipbench("submit", "--model", "config:llama-2-7b", env=NO_BROKER)
    assert "has random weights; suite(s) perplexity measure quality" in one_line(out)


def test_submit_leaves_a_model_path_missing_here_to_the_worker():
    """A local path may exist only on the worker: submit gets as far as the broker."""
    out = skipbench("submit", "--model", "/only/on/the/worker", env=NO_BROKER)
    assert out.returncode == 1 and "broker" in out.stderr.lower()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "SKIPBENCH_SEARCH_LOGS",
            "maybe",
            "SKIPBENCH_SEARCH_LOGS='maybe': Input should be a valid",
        ),
        ("SKIPBENCH_SOURCE_COMMIT", "main", "SKIPBENCH_SOURCE_COMMIT='main' is not a git commit"),
    ],
)
def test_a_setting_pydantic_refuses_is_one_line_naming_the_variable(variable, value, expected):
    line = one_line(skipbench("results", env={variable: value}))
    assert line.startswith("error: ") and expected in line
