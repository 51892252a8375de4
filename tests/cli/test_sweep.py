"""``skipbench sweep`` end to end on the tiny model, in a subprocess (real exit codes, stdout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
import yaml

TINY_SUITE = {"name": "perplexity", "tasks": ["wikitext2"], "params": {"limit": 2, "seq_len": 64}}
PLUGIN = {"SKIPBENCH_PLUGINS": "tests.cli.sweep_plugin"}


def skipbench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
    )


def write_grid(path, **grid) -> str:
    path.write_text(yaml.safe_dump(grid))
    return str(path)


def last_json(out: str):
    return json.loads(out.strip().splitlines()[-1])


def test_grid_errors_are_reported_for_every_cell_before_anything_runs(tiny_model_dir, tmp_path):
    grid = write_grid(
        tmp_path / "grid.yaml",
        models=[str(tiny_model_dir)],
        device="cpu",
        methods=["dense", "nosuch", {"name": "shortgpt", "params": {"bogus": 1}}],
        sparsities=[0.25],
        suites=[TINY_SUITE, {"name": "zeroshot", "tasks": ["nosuchtask"]}, "nosuite"],
    )
    out = skipbench("sweep", grid)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: cell ")]
    # 3 methods x 3 suites = 9 cells; only dense on perplexity is valid
    assert [int(line.split()[2]) for line in errors] == [2, 3, 4, 5, 6, 7, 8, 9]
    assert "unknown task 'nosuchtask'" in errors[0]
    assert "unknown suite 'nosuite'" in errors[1]
    assert all("nosuch" in line for line in errors[2:5])
    assert all("bogus" in line or "nosuite" in line for line in errors[5:])
    assert lines[-1] == "8 of 9 cells are invalid; nothing was run"
    assert "[1/" not in out.stdout  # no cell ran
    stored = skipbench("results", "--all", "--format", "json")
    assert json.loads(stored.stdout) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sweep_skips_stored_survives_a_failure_and_resumes(
    backend, tiny_model_dir, shared_data_dir, tmp_path, request
):
    env = dict(PLUGIN)
    if backend == "postgresql":
        env["SKIPBENCH_DATABASE_URL"] = request.getfixturevalue("pg_url")
    model = str(tiny_model_dir)  # unique per test, so a shared database holds no other cells
    grid = write_grid(
        tmp_path / "grid.yaml",
        models=[model],
        device="cpu",
        methods=[
            "dense",
            {"name": "test_fail_once", "params": {"marker": str(tmp_path / "marker")}},
            {"name": "shortgpt", "params": {"calib_samples": 2, "calib_seq_len": 32}},
        ],
        sparsities=[0.25],
        suites=[TINY_SUITE],
    )
    # the dense cell is stored beforehand by the equivalent `skipbench run`
    dense = skipbench("run", "--model", model, "--suite", "perplexity", "--task", "wikitext2",
                      "--limit", "2", "--seq-len", "64", "--device", "cpu", "--json", env=env)  # fmt: skip
    assert dense.returncode == 0, dense.stderr
    dense_id = last_json(dense.stdout)["run_id"]

    dry = skipbench("sweep", "--dry-run", "--json", grid, env=env)
    assert dry.returncode == 0, dry.stderr
    actions = [c["action"] for c in last_json(dry.stdout)]
    assert actions == [f"skip: stored (run {dense_id})", "run", "run"]

    bundle = tmp_path / "grid-bundle.json"
    for bad, says in [
        (["--submit", "--export", str(bundle)], "it cannot go with --submit"),
        (["--export", str(tmp_path / "b.txt")], "the bundle name must end .json or .jsonl"),
    ]:
        refused = skipbench("sweep", grid, *bad, env=env)
        assert refused.returncode == 2 and says in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1 and not bundle.exists()
    first = skipbench("sweep", grid, "--export", str(bundle), env=env)
    assert first.returncode == 1, first.stderr
    # rewritten after the one cell that succeeded: the stored dense run and ShortGPT's
    exported = json.loads(bundle.read_text())
    assert exported["run_count"] == 2 and exported["filters"]["grid"] == "grid"
    assert sorted(r["method"]["name"] for r in exported["runs"]) == ["dense", "shortgpt"]
    assert first.stdout.count(f"exported 2 run(s) to {bundle}") == 1
    lines = [line for line in first.stdout.splitlines() if line.startswith("[")]
    assert [line.split()[1] for line in lines] == [
        "skip",
        "FAILED",
        "ok",
    ]  # the failure did not stop it
    assert "planned failure" in lines[1] and "ETA" in lines[2]
    # stderr is not a terminal here: each cell that runs says so, and its steps write log lines
    log = first.stderr.splitlines()
    starts = [line.split()[0] for line in log if line.split()[1:2] == ["started"]]
    assert starts == ["[2/3]", "[3/3]"]  # the stored dense cell did not run
    assert "[3/3] perplexity/wikitext2: started" in log, log
    assert any(line.startswith("[3/3] perplexity/wikitext2: done in") for line in log), log

    status = skipbench("sweep", "status", "--json", grid, env=env)
    cells = last_json(status.stdout)
    assert [c["state"] for c in cells] == ["done", "failed", "done"]
    assert "planned failure" in cells[1]["error"]
    runs = json.loads(skipbench("results", "--all", "--format", "json", env=env).stdout)
    mine = [r for r in runs if r["model"]["id"] == model]
    failed_id = next(r["run_id"] for r in mine if r["status"] == "failed")

    again = skipbench("sweep", grid, "--export", str(bundle), env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(bundle.read_text())["run_count"] == 3
    lines = [line for line in again.stdout.splitlines() if line.startswith("[")]
    assert [line.split()[1] for line in lines] == ["skip", "ok", "skip"]
    assert f"resumed run {failed_id}" in lines[1]
    cells = last_json(skipbench("sweep", "status", "--json", grid, env=env).stdout)
    assert [c["state"] for c in cells] == ["done", "done", "done"]
    runs = json.loads(skipbench("results", "--all", "--format", "json", env=env).stdout)
    mine = [r for r in runs if r["model"]["id"] == model]
    assert len(mine) == 3 and {r["status"] for r in mine} == {"succeeded"}  # no duplicate rows


def test_sweep_submit_queues_once_and_requeues_failed_jobs(tiny_model_dir, tmp_path, pg_url):
    redis = pytest.importorskip("redis")
    broker = "redis://127.0.0.1:6379/13"
    try:
        redis.Redis.from_url(broker, socket_connect_timeout=2).ping()
    except Exception:
        pytest.skip("Redis not reachable at 127.0.0.1:6379")
    queue = f"sweep-test-{uuid.uuid4().hex[:8]}"
    env = {"SKIPBENCH_DATABASE_URL": pg_url, "SKIPBENCH_BROKER_URL": broker,
           "SKIPBENCH_RESULT_BACKEND": broker, "SKIPBENCH_QUEUE": queue}  # fmt: skip
    grid = write_grid(
        tmp_path / "grid.yaml",
        models=[str(tiny_model_dir)],
        device="cpu",
        methods=["dense", "shortgpt"],
        sparsities=[0.25],
        suites=[TINY_SUITE],
    )
    try:
        first = skipbench("sweep", "--submit", grid, env=env)
        assert first.returncode == 0, first.stderr
        assert [line.split()[1] for line in first.stdout.splitlines() if line.startswith("[")] == [
            "queued",
            "queued",
        ]
        cells = last_json(skipbench("sweep", "status", "--json", grid, env=env).stdout)
        assert [c["state"] for c in cells] == ["queued", "queued"]
        assert redis.Redis.from_url(broker).llen(queue) == 2

        again = skipbench("sweep", "--submit", grid, env=env)
        assert [line.split()[1] for line in again.stdout.splitlines() if line.startswith("[")] == [
            "skip",
            "skip",
        ]
        assert redis.Redis.from_url(broker).llen(queue) == 2  # nothing sent twice

        from db import jobs

        job_id = cells[1]["job_id"]
        claim = jobs.claim(pg_url, job_id, "t-1", "testhost", None, stale_s=60, max_attempts=3)
        assert claim.ok
        assert jobs.finish(pg_url, job_id, "t-1", "failed", error="boom")
        cells = last_json(skipbench("sweep", "status", "--json", grid, env=env).stdout)
        assert [c["state"] for c in cells] == ["queued", "failed"]
        third = skipbench("sweep", "--submit", grid, env=env)
        assert [line.split()[1] for line in third.stdout.splitlines() if line.startswith("[")] == [
            "skip",
            "requeued",
        ]
        cells = last_json(skipbench("sweep", "status", "--json", grid, env=env).stdout)
        assert [c["state"] for c in cells] == ["queued", "queued"]
    finally:
        redis.Redis.from_url(broker).delete(queue)
