"""A seed-pooled method (``random``) on the board: one row, the mean, and the spread shown."""

from __future__ import annotations

import pandas as pd

from leaderboard import frames, rows


def test_random_seeds_are_one_row_with_mean_and_spread():
    def line(i, method, seed=None):
        config = {"sparsity": 0.2, "num_layers": None}
        if seed is not None:
            config["seed"] = seed
        return {"id": i, "status": "succeeded", "model_id": "m", "method_name": method,
                "sparsity": 0.2, "device": "cpu", "method_config": config, "method_details": {}}  # fmt: skip

    runs = pd.DataFrame([line(1, "dense"), *(line(i, "random", i - 2) for i in (2, 3, 4))])
    results = pd.DataFrame(
        [{"run_id": i, "suite": "perplexity", "task": "wikitext2", "metric": "perplexity",
          "value": v, "stderr": None, "n": None, "unit": "", "higher_is_better": False,
          "display_name": ""} for i, v in ((1, 10.0), (2, 40.0), (3, 50.0), (4, 60.0))]
    )  # fmt: skip
    merged = rows.merge(runs, results)
    table = frames.wide_table(merged.runs, merged.results, frames.metric_columns(results))
    assert list(table["Method"]) == ["dense", "random"]
    random_row = table[table["Method"] == "random"].iloc[0]
    assert random_row["Perplexity · WikiText-2 ↓"] == 50.0  # the mean
    assert random_row["Seeds"] == "3 seeds (0, 1, 2); sd wikitext2 perplexity 10"
    assert table[table["Method"] == "dense"].iloc[0]["Seeds"] == ""
