"""The CLI end to end on a tiny model, in a subprocess (real exit codes, real stdout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def skipbench(
    *args: str, env: dict | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
    )


TINY_RUN = (
    "--suite",
    "perplexity",
    "--task",
    "wikitext2",
    "--limit",
    "2",
    "--seq-len",
    "64",
    "--device",
    "cpu",
)


def test_run_dense_and_shortgpt_json_contract(tiny_model_dir, shared_data_dir):
    dense = skipbench(
        "run", "--model", str(tiny_model_dir), "--method", "dense", *TINY_RUN, "--json"
    )
    assert dense.returncode == 0, dense.stderr
    record = json.loads(dense.stdout.strip().splitlines()[-1])
    assert set(record) >= {"run_id", "model", "method", "results", "provenance"}
    assert record["method"]["name"] == "dense"
    ppl = [r for r in record["results"] if r["metric"] == "perplexity"]
    assert len(ppl) == 1 and ppl[0]["task"] == "wikitext2" and ppl[0]["n"] == 2
    assert ppl[0]["higher_is_better"] is False and ppl[0]["value"] > 1
    assert set(ppl[0]) >= {"suite", "task", "metric", "value", "stderr", "n", "higher_is_better"}
    prov = record["provenance"]
    assert prov["torch"] and prov["transformers"] and prov["skipbench"]
    assert prov["data_files"]["wikitext2/test.jsonl"]

    short = skipbench(
        "run",
        "--model",
        str(tiny_model_dir),
        "--method",
        "shortgpt",
        "--sparsity",
        "0.25",
        "--set",
        "calib_samples=2",
        "--set",
        "calib_seq_len=32",
        *TINY_RUN,
        "--json",
    )
    assert short.returncode == 0, short.stderr
    rec = json.loads(short.stdout.strip().splitlines()[-1])
    details = rec["method"]["details"]
    assert len(details["removed_layers"]) == 1  # ceil(0.25 * 4)
    assert details["sparsity"] == {
        "nominal": 0.25,
        "realized": 0.25,
        "param_fraction_removed": pytest.approx(details["sparsity"]["param_fraction_removed"]),
    }
    assert details["calibration"]["dataset"] == "c4" and details["calibration"]["num_samples"] == 2
    assert rec["run_id"] == record["run_id"] + 1

    listed = skipbench("results", "--format", "json")
    assert listed.returncode == 0
    assert [r["method"]["name"] for r in json.loads(listed.stdout)] == ["dense", "shortgpt"]
    csv_out = skipbench("results", "--format", "csv").stdout.splitlines()
    assert csv_out[0].startswith("run_id,status,model,method")
    assert len(csv_out) == 1 + 4  # 2 runs x (perplexity, nll)


def test_run_lands_in_postgresql(tiny_model_dir, shared_data_dir, pg_url):
    env = {"SKIPBENCH_DATABASE_URL": pg_url}
    out = skipbench("run", "--model", str(tiny_model_dir), *TINY_RUN, "--json", env=env)
    assert out.returncode == 0, out.stderr
    run_id = json.loads(out.stdout.strip().splitlines()[-1])["run_id"]
    from db.store import Store

    run = Store(pg_url).get_run(run_id)
    assert run is not None and run.status == "succeeded" and run.model_dtype == "float32"


BAD_INPUTS = [
    (("--method", "shortgtp"), "unknown method 'shortgtp' (did you mean 'shortgpt'?)"),
    (("--model", "/no/such/model"), "model '/no/such/model' is not an existing folder"),
    (("--method", "shortgpt", "--sparsity", "1.5"), "sparsity=1.5 is outside [0, 1)"),
    (
        ("--method", "shortgpt", "--set", "num_layers=4"),
        "num_layers=4 must be smaller than the model's 4 decoder layers",
    ),
    (("--suite", "speed"), "unknown suite 'speed'"),
    (("--task", "ptb"), "unknown task 'ptb' for suite(s) perplexity; allowed: wikitext2, c4"),
    (
        ("--method", "shortgpt", "--set", "sparsity"),
        "--set 'sparsity' is malformed; expected key=value",
    ),
    (("--method", "shortgpt", "--set", "foo=1"), "unknown parameter(s) foo; allowed:"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS, ids=[m[:30] for _, m in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line(tiny_model_dir, args, message):
    base = [
        "run",
        "--model",
        str(tiny_model_dir),
        "--device",
        "cpu",
        "--limit",
        "1",
        "--seq-len",
        "16",
    ]
    # later --model overrides the first one
    out = skipbench(*base, *args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = [
        line
        for line in out.stderr.splitlines()
        if line.strip() and "it/s" not in line and "Loading" not in line
    ]
    assert len(lines) == 1, out.stderr
    assert message in lines[0]
    # nothing was stored
    assert json.loads(skipbench("results", "--format", "json", "--all").stdout) == []


def test_seq_len_beyond_the_window_is_refused_before_a_run_exists(tiny_model_dir, shared_data_dir):
    """Checked before a run row is written (issue 13, defect 9); a run that fails after it
    started is stored failed: tests/harness/test_runner.py."""
    out = skipbench(
        "run",
        "--model",
        str(tiny_model_dir),
        "--suite",
        "perplexity",
        "--seq-len",
        "100000",
        "--device",
        "cpu",
    )
    assert out.returncode == 2
    assert "seq_len=100000 exceeds the model's context window of 256 tokens" in out.stderr
    assert json.loads(skipbench("results", "--format", "json", "--all").stdout) == []


def test_methods_and_models_list():
    out = skipbench("methods")
    assert out.returncode == 0 and "shortgpt" in out.stdout and "sparsity" in out.stdout
    out = skipbench("models", "list")
    assert out.returncode == 0 and "smollm2-135m-instruct" in out.stdout


def test_cli_startup_does_not_import_torch():
    code = (
        "import sys; import cli.main; print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False False"


def test_typer_exit_codes_propagate():
    code = (
        "import sys, typer\n"
        "from cli.main import app, main\n"
        "app.command('zz-exit')(lambda: (_ for _ in ()).throw(typer.Exit(3)))\n"
        "sys.argv = ['skipbench', 'zz-exit']\n"
        "main()\n"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 3
