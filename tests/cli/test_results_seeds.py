"""``skipbench results --latest`` pools a seed-pooled method's runs as the leaderboard does."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from db.store import ResultRow, Store


def test_random_seeds_are_one_record_with_mean_spread_and_seed_values(monkeypatch, tmp_path):
    from cli.main import app
    from skipbench.settings import reset_settings_cache

    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("SKIPBENCH_DATABASE_URL", url)
    reset_settings_cache()
    store = Store(url)
    suite = {"perplexity": {"limit": 8, "seq_len": 2048}}

    def add(method: str, config: dict, value: float) -> None:
        run_id = store.create_run(
            model_id="m", model_hash="h", model_dtype="float32", method_name=method,
            method_config=config, method_details={}, sparsity=config.get("sparsity"),
            suites=suite, seed=0, device="cpu",
        )  # fmt: skip
        row = ResultRow("perplexity", "wikitext2", "perplexity", value, higher_is_better=False)
        store.add_suite_results(run_id, "perplexity", [row])
        store.finish_run(run_id, "succeeded")

    add("dense", {}, 10.0)
    for seed, value in ((0, 40.0), (1, 50.0), (2, 66.0)):
        add("random", {"sparsity": 0.2, "num_layers": None, "seed": seed}, value)
    out = CliRunner().invoke(app, ["results", "--latest", "--format", "json"])
    assert out.exit_code == 0, out.output
    records = json.loads(out.output.strip().splitlines()[-1])
    assert sorted(r["method"]["name"] for r in records) == ["dense", "random"]
    (pooled,) = [r for r in records if r["method"]["name"] == "random"]
    (result,) = pooled["results"]
    # hand-worked: mean of 40, 50, 66 = 52; sample sd = sqrt((144 + 4 + 196) / 2) = sqrt(172)
    assert result["value"] == 52.0
    assert abs(result["spread"] - 172**0.5) < 1e-12
    assert result["seed_values"] == {"0": 40.0, "1": 50.0, "2": 66.0} or result["seed_values"] == {
        0: 40.0, 1: 50.0, 2: 66.0,
    }  # fmt: skip
    assert pooled["seeds"] == [0, 1, 2]
    assert len(pooled["merged_runs"]) == 3
