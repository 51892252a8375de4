"""The table logic against hand-worked cases and plain reference loops."""

from __future__ import annotations

import json
import math
import random

import pandas as pd

from leaderboard import frames, rows
from leaderboard.columns import MetricColumn, compact, ordered
from leaderboard.details import layer_states, numeric_series, record_tables
from leaderboard.pareto import frontier


def _runs(*rows):
    keys = ("id", "status", "model_id", "method_name", "sparsity", "device")
    return pd.DataFrame([dict(zip(keys, r), method_details={}) for r in rows])


def _res(*rows):
    return pd.DataFrame(
        [
            {"run_id": r, "suite": s, "task": t, "metric": m, "value": v, "stderr": None, "n": None,
             "unit": u, "higher_is_better": h, "display_name": ""}
            for r, s, t, m, v, h, u in rows
        ]
    )  # fmt: skip


RUNS = _runs(
    (1, "succeeded", "m", "dense", 0.0, "gpu"),
    (2, "succeeded", "m", "sleb", 0.2, "gpu"),
    (3, "succeeded", "m", "sleb", 0.2, "gpu"),  # supersedes 2
    (4, "failed", "m", "sleb", 0.3, "gpu"),
    (5, "succeeded", "m", "shortgpt", 0.2, "gpu"),
    (6, "succeeded", "n", "shortgpt", 0.2, "gpu"),  # no dense run for model n
)
RESULTS = _res(
    (1, "perplexity", "wikitext2", "perplexity", 10.0, False, ""),
    (1, "zeroshot", "average", "average", 0.60, True, "fraction"),
    (2, "perplexity", "wikitext2", "perplexity", 20.0, False, ""),
    (3, "perplexity", "wikitext2", "perplexity", 12.0, False, ""),
    (3, "zeroshot", "average", "average", 0.55, True, "fraction"),
    (5, "perplexity", "wikitext2", "perplexity", 15.0, False, ""),
    (6, "perplexity", "wikitext2", "perplexity", 30.0, False, ""),
    (1, "throughput", "prefill/b1x8", "tokens_per_s", 100.0, True, "tokens/s"),
    (3, "throughput", "prefill/b1x8", "tokens_per_s", 125.0, True, "tokens/s"),
    (6, "throughput", "prefill/b1x8", "tokens_per_s", 500.0, True, "tokens/s"),
)


def _merged_table(runs, results):
    cols = frames.metric_columns(results)
    merged = rows.merge(runs, results)
    return frames.wide_table(merged.runs, merged.results, cols), cols


def test_merge_keeps_one_row_per_subject_newest_value_wins():
    table, cols = _merged_table(RUNS, RESULTS)
    assert list(table["Run"]) == [1, 3, 5, 6]  # 2 and 3 (same config) merge; 4 failed
    ppl = next(c.label for c in cols if c.metric == "perplexity")
    assert table.set_index("Run").loc[3, ppl] == 12.0  # run 3 is newer than run 2
    assert list(table.set_index("Run").loc[3, ["Runs"]]) == ["#3, #2"]


def test_smoke_run_and_method_configs_are_rows_of_their_own():
    runs = _runs((1, "succeeded", "m", "dense", 0.0, "gpu"), (2, "succeeded", "m", "dense", 0.0, "gpu"),
                 (3, "succeeded", "m", "dense", 0.0, "gpu"), (4, "succeeded", "m", "sleb", 0.2, "gpu"),
                 (5, "succeeded", "m", "sleb", 0.2, "gpu"))  # fmt: skip
    full = {"perplexity": {"limit": None, "seq_len": 2048}}
    runs["suites"] = [full, {"zeroshot": {"limit": None}}, {"perplexity": {"limit": 1, "seq_len": 256}},
                      full, full]  # fmt: skip
    runs["method_config"] = [{}, {}, {}, {"calibration_samples": 8}, {"calibration_samples": 32}]
    results = _res(
        (1, "perplexity", "wikitext2", "perplexity", 20.0, False, ""),
        (2, "zeroshot", "average", "average", 0.70, True, "fraction"),
        (3, "perplexity", "wikitext2", "perplexity", 35.0, False, ""),
        (4, "perplexity", "wikitext2", "perplexity", 30.0, False, ""),
        (5, "perplexity", "wikitext2", "perplexity", 26.0, False, ""),
    )
    table, cols = _merged_table(runs, results)
    ppl, avg = (next(c.label for c in cols if c.metric == m) for m in ("perplexity", "average"))
    by_run = table.set_index("Run")
    assert sorted(by_run.index) == [2, 3, 4, 5]
    assert (by_run.loc[2, ppl], by_run.loc[2, avg]) == (20.0, 0.70)  # suites of runs 1 and 2
    assert by_run.loc[3, "Evaluation"] == "perplexity: limit=1, seq_len=256"
    assert by_run.loc[4, "Config"] == "calibration_samples=8"
    rel = rows.relative_to_dense(table, runs, results, cols).set_index("Run")
    assert rel.loc[4, ppl] == 10.0 and rel.loc[5, ppl] == 6.0  # against 20, not the smoke 35
    smoke_sleb = _runs((6, "succeeded", "m", "sleb", 0.2, "gpu")).assign(
        suites=[{"perplexity": {"limit": 1, "seq_len": 256}}],
        method_config=[{"calibration_samples": 8}],
    )
    runs2 = pd.concat([runs, smoke_sleb], ignore_index=True)
    results2 = pd.concat(
        [results, _res((6, "perplexity", "wikitext2", "perplexity", 50.0, False, ""))]
    )
    table2, _ = _merged_table(runs2, results2)
    rel2 = rows.relative_to_dense(table2, runs2, results2, cols).set_index("Run")
    assert rel2.loc[6, ppl] == 15.0  # the smoke sleb against the smoke dense
    no_smoke = runs2[runs2["id"] != 3]
    assert rows.without_baseline(table2, no_smoke, results2, cols)[6] == ["perplexity"]


def test_missing_results_are_blank_not_zero():
    cols = frames.metric_columns(RESULTS)
    merged = rows.merge(RUNS, RESULTS)
    table = frames.wide_table(merged.runs, merged.results, cols)
    zs = [c.label for c in cols if c.suite == "zeroshot"][0]
    assert table.set_index("Run")[zs].isna().tolist() == [False, False, True, True]


def test_speedup_is_tokens_ratio_to_same_model_dense():
    out = frames.with_speedup(RESULTS, RUNS)
    speed = out[out["metric"] == "speedup"].set_index("run_id")["value"]
    assert speed.to_dict() == {1: 1.0, 3: 1.25}  # model n has no dense run: no speedup


def test_speedup_stored_by_the_suite_is_kept_not_derived():
    """A same-process speedup (dense timed next to the method) wins over the cross-run ratio."""
    stored = _res((3, "throughput", "prefill/b1x8", "speedup", 1.31, True, "×"))
    out = frames.with_speedup(pd.concat([RESULTS, stored], ignore_index=True), RUNS)
    speed = out[out["metric"] == "speedup"]
    assert sorted(zip(speed["run_id"], speed["value"])) == [(1, 1.0), (3, 1.31)]
    from leaderboard.views.detail import results_table

    def sources(run_id):
        table = results_table(out[out["run_id"] == run_id])
        return dict(zip(table["metric"], table["source"], strict=True))

    assert sources(3)["speedup"] == "stored"  # the _res rows carry no display name
    assert sources(1)[frames.DERIVED_SPEEDUP] == "derived"


def test_relative_to_dense_hand_worked():
    table, cols = _merged_table(RUNS, RESULTS)
    rel = rows.relative_to_dense(table, RUNS, RESULTS, cols).set_index("Run")
    ppl = next(c.label for c in cols if c.metric == "perplexity")
    avg = next(c.label for c in cols if c.metric == "average")
    assert rel.loc[3, ppl] == 2.0 and rel.loc[5, ppl] == 5.0 and rel.loc[1, ppl] == 0.0
    assert math.isclose(rel.loc[3, avg], -5.0)  # fractions in percentage points
    assert math.isnan(rel.loc[6, ppl])  # model n: no dense run
    pct = rows.relative_to_dense(table, RUNS, RESULTS, cols, percent=True).set_index("Run")
    assert math.isclose(pct.loc[3, ppl], 20.0) and math.isclose(pct.loc[5, ppl], 50.0)


def test_sort_respects_direction_and_blanks_last():
    t = pd.DataFrame(
        {"ppl": [12.0, float("nan"), 10.0, 15.0], "acc": [0.5, 0.7, float("nan"), 0.6]}
    )
    assert frames.sort_table(t, "ppl", higher_is_better=False)["ppl"].tolist()[:3] == [
        10.0,
        12.0,
        15.0,
    ]
    assert frames.sort_table(t, "acc", higher_is_better=True)["acc"].tolist()[:3] == [0.7, 0.6, 0.5]
    worst = frames.sort_table(t, "ppl", higher_is_better=False, best_first=False)["ppl"].tolist()
    assert worst[:3] == [15.0, 12.0, 10.0] and math.isnan(worst[3])


def test_best_rows_by_direction_with_ties():
    t = pd.DataFrame({"A ↓": [3.0, 1.0, 1.0], "B ↑": [0.2, float("nan"), 0.9]})
    cols = [MetricColumn("s", "a", "A", False), MetricColumn("s", "b", "B", True)]
    cols = [c for c in cols]
    t.columns = [c.label for c in cols]
    assert frames.best_rows(t, cols) == {cols[0].label: [1, 2], cols[1].label: [2]}


def test_filters_and_search():
    cols = frames.metric_columns(RESULTS)
    table = frames.wide_table(RUNS, RESULTS, cols)
    assert frames.filter_table(table, methods=["sleb"])["Run"].tolist() == [2, 3, 4]
    assert frames.filter_table(table, sparsity_range=(0.25, 0.35))["Run"].tolist() == [4]
    assert frames.filter_table(table, search="SHORTgpt")["Run"].tolist() == [5, 6]
    assert frames.filter_table(table, models=["n"])["Run"].tolist() == [6]


def test_exports_keep_blanks():
    t = pd.DataFrame({"Run": [1, 2], "x": [1.5, float("nan")]})
    assert frames.to_csv(t).splitlines() == ["Run,x", "1,1.5", "2,"]
    assert json.loads(frames.to_json(t)) == [{"Run": 1, "x": 1.5}, {"Run": 2, "x": None}]


def _brute_frontier(points, better):
    out = []
    for i, p in enumerate(points):
        beaten = False
        for j, q in enumerate(points):
            ge = all((a >= b) if h else (a <= b) for a, b, h in zip(q, p, better))
            gt = any((a > b) if h else (a < b) for a, b, h in zip(q, p, better))
            beaten = beaten or (j != i and ge and gt)
        if not beaten:
            out.append(i)
    return sorted(out)


def test_pareto_hand_worked_and_against_brute_force():
    # speedup up, perplexity down: (1.0, 10) dense, (1.2, 12), (1.1, 13) dominated by (1.2, 12)
    assert frontier([(1.0, 10.0), (1.2, 12.0), (1.1, 13.0)], (True, False)) == [0, 1]
    rng = random.Random(0)
    for better in [(True, True), (True, False), (False, False)]:
        pts = [(rng.randint(0, 6) / 2, rng.randint(0, 6) / 3) for _ in range(25)]
        assert sorted(frontier(pts, better)) == _brute_frontier(pts, better)


def test_compact_columns():
    cols = ordered(
        [
            MetricColumn("zeroshot", "piqa", "acc", True), MetricColumn("zeroshot", "piqa", "acc_norm", True),
            MetricColumn("zeroshot", "boolq", "acc", True), MetricColumn("zeroshot", "average", "average", True),
            MetricColumn("perplexity", "wikitext2", "nll", False), MetricColumn("perplexity", "wikitext2", "perplexity", False),
            MetricColumn("longbench", "mini.hotpotqa", "score", True), MetricColumn("longbench", "mini.average", "average", True),
            MetricColumn("longbench", "mini.code", "average", True), MetricColumn("longbench", "e.hotpotqa@0-4k", "score", True),
            MetricColumn("longbench", "e.average", "average", True),
            MetricColumn("throughput", "prefill", "latency_ms", False), MetricColumn("throughput", "prefill", "tokens_per_s", True),
            MetricColumn("newsuite", "t", "m1", True), MetricColumn("newsuite", "t", "m2", False),
        ]
    )  # fmt: skip
    keys = [c.key for c in compact(cols)]
    assert keys == [
        ("perplexity", "wikitext2", "perplexity"), ("zeroshot", "average", "average"),
        ("zeroshot", "piqa", "acc_norm"), ("zeroshot", "boolq", "acc"), ("longbench", "e.average", "average"),
        ("longbench", "mini.average", "average"), ("longbench", "mini.code", "average"),
        ("throughput", "prefill", "tokens_per_s"), ("newsuite", "t", "m1"), ("newsuite", "t", "m2"),
    ]  # fmt: skip
    assert len({c.label for c in cols}) == len(cols)  # labels are unique headers
    labels = {c.key: c.label for c in cols}
    assert labels[("longbench", "mini.code", "average")] == "LongBench-mini · Code ↑"
    assert labels[("longbench", "e.hotpotqa@0-4k", "score")] == "LongBench-E · hotpotqa @0-4k ↑"
    assert labels[("zeroshot", "piqa", "acc_norm")] == "Zero-shot · PIQA acc_norm ↑"


def test_layer_states_keep_removal_order():
    states = layer_states({"removed_layers": [5, 2, 4], "num_layers_total": 6})
    assert [s["state"] for s in states] == ["kept", "kept", "removed", "kept", "removed", "removed"]
    assert [s["order"] for s in states] == [None, None, 2, None, 3, 1]
    sel = layer_states({"selective_layers": [1, 3], "selection_order": [3, 1]}, {"num_layers": 4})
    assert [(s["state"], s["order"]) for s in sel] == [
        ("kept", None),
        ("token-selective", 2),
        ("kept", None),
        ("token-selective", 1),
    ]


def test_sublayer_removal_is_shown_per_layer_and_in_order():
    """LLM-Drop / BlockPruner details (``removed_sublayers``, removal order): the strip, the
    Layers text, the strategy and the realized sparsity all say what went, hand-worked."""
    from leaderboard.fields import realized_sparsity, strategy_text
    from leaderboard.frames import layers_text

    details = {
        "removed_sublayers": ["attn.3", "mlp.1", "attn.1", "mlp.4"],
        "num_layers_total": 5,
        "num_sublayers_total": 10,
        "sparsity": {"realized": 0.4, "param_fraction_removed": 0.25},
    }
    states = layer_states(details)
    assert [(s["state"], s["order"]) for s in states] == [
        ("kept", None),
        ("removed", 2),  # both sublayers of layer 1: its first went second
        ("kept", None),
        ("attention removed", 1),
        ("MLP removed", 4),
    ]
    assert layers_text(details) == "removed attn.3,mlp.1,attn.1,mlp.4"
    assert strategy_text({"target": "joint"}, details) == "remove"
    assert realized_sparsity(details) == (
        "4 of 10 sublayers removed, realized 40.0%, 25.0% of parameters removed"
    )


def test_generic_artifact_readers():
    payload = {
        "layers": [0, 1, 2],
        "cos": [0.1, 0.2, 0.3],
        "nested": {"delta": [1, 2]},
        "flag": [True, False],
        "note": "x",
    }
    assert numeric_series(payload) == {"cos": [0.1, 0.2, 0.3], "nested.delta": [1.0, 2.0]}
    recs = record_tables({"piqa": [{"doc_id": 0, "ll": [-1.0, -2.0]}], "n": 3})
    assert recs == {"piqa": [{"doc_id": 0, "ll": "[-1.0, -2.0]"}]}


def test_baseline_is_newest_dense_run_that_has_the_metric():
    runs = pd.concat([RUNS, _runs((7, "succeeded", "m", "dense", 0.0, "gpu"))], ignore_index=True)
    results = pd.concat(
        [RESULTS, _res((7, "zeroshot", "average", "average", 0.70, True, "fraction"))],
        ignore_index=True,
    )
    cols = frames.metric_columns(results)
    assert list(_merged_table(runs, results)[0]["Run"]) == [3, 5, 6, 7]
    table = frames.wide_table(runs[runs["id"] == 3], results, cols)
    rel = rows.relative_to_dense(table, runs, results, cols).set_index("Run")
    ppl = next(c.label for c in cols if c.metric == "perplexity")
    avg = next(c.label for c in cols if c.metric == "average")
    assert rel.loc[3, ppl] == 2.0  # run 7 has no perplexity: run 1's (merged) is the baseline
    assert math.isclose(rel.loc[3, avg], -15.0)  # the newest dense run with the average wins
    speed = frames.with_speedup(results, runs)
    assert speed[speed["metric"] == "speedup"].set_index("run_id")["value"].to_dict() == {
        1: 1.0,
        3: 1.25,
    }


def test_speed_flags_hand_worked():
    from leaderboard.speed_checks import CPU_NOTE, run_warnings

    def tp(task, metric, value):
        return {"suite": "throughput", "task": task, "metric": metric, "value": value}

    details = {"sparsity": {"realized": 0.1}}  # ideal 1/(1 - 0.1) = 1.11x
    fine = [tp("prefill/b1x8", "speedup", 1.10), tp("prefill/b1x8", "latency_ms", 10.0),
            tp("prefill/b1x8", "latency_p90_ms", 12.0), tp("decode/b1", "ttft_ms", 5.0),
            tp("decode/b1", "tpot_ms", 1.0)]  # fmt: skip
    assert run_warnings(fine, details, "shortgpt", "NVIDIA H200") == []
    bad = [tp("prefill/b1x8", "speedup", 3.18), tp("prefill/b1x8", "latency_ms", 10.0),
           tp("prefill/b1x8", "latency_p90_ms", 16.0), tp("decode/b1", "ttft_ms", 5.0),
           tp("decode/b1", "tpot_ms", 0.0)]  # fmt: skip
    flags = run_warnings(bad, details, "dense", "cpu: x86 (2 threads)")
    assert len(flags) == 4 and flags[-1] == CPU_NOTE
    assert (
        "3.18× is above its ideal 1.11×" in flags[1] or "3.18× is above its ideal 1.11×" in flags[2]
    )
    assert any("dense baseline time to first token" in f for f in flags)
    assert any("p90/median 1.60" in f for f in flags)
    art = {"suite": "throughput", "name": "throughput", "payload": [
        {"task": "decode/b1", "side": "dense", "ttft": {"median_ms": 9.0}, "total": {"median_ms": 8.0}}]}  # fmt: skip
    assert run_warnings(fine, details, "shortgpt", "gpu", [art]) == [
        "decode/b1: dense baseline time to first token exceeds its total time"
    ]
    assert run_warnings([], details, "dense", "cpu") == []  # no speed: no CPU note either


def test_scatter_reference_lines_and_padding():
    from leaderboard.views.scatter import ideal_lines, padded, point_labels

    points = pd.DataFrame({"Method": ["dense", "shortgpt", "sleb"], "Sparsity": [0.0, 0.2, 0.2]})
    lines = ideal_lines(points)
    assert list(lines["ideal"]) == [1.25] and list(lines["text"]) == ["ideal 1.25× at 20%"]
    assert point_labels(points) == ["dense", "shortgpt 20%", "sleb 20%"]
    low, high = padded([1.0, 2.0])
    assert low < 1.0 and high > 2.0 and math.isclose(2.0 - high, low - 1.0)


def test_throughput_task_labels_name_the_prefill_mode() -> None:
    from leaderboard.columns import task_label

    assert task_label("prefill/b1x2048") == "prefill 1x2048"
    assert task_label("prefill-compiled/b8x2048") == "prefill compiled 8x2048"
    assert task_label("decode-graph/b1p512n128") == "decode graph 1x512+128"


def test_default_sort_prefers_the_compiled_prefill_speedup() -> None:
    from leaderboard.columns import MetricColumn
    from leaderboard.views.board import default_sort

    cols = [
        MetricColumn("throughput", "decode-graph/b1p512n128", "speedup", True),
        MetricColumn("throughput", "prefill/b1x2048", "speedup", True),
        MetricColumn("throughput", "prefill-compiled/b1x2048", "speedup", True),
    ]
    assert default_sort(cols) == 2
    assert default_sort(cols[:2]) == 1


def test_one_config_that_removed_other_layers_is_two_rows_named_by_their_layers():
    """The Shortened LLaMA case of results/README.md: same config, one near-tied layer apart."""
    runs = _runs((1, "succeeded", "m", "shortened-llama", 0.2, "gpu"),
                 (2, "succeeded", "m", "shortened-llama", 0.2, "cpu"),
                 (3, "succeeded", "m", "shortened-llama", 0.2, "gpu"))  # fmt: skip
    runs["suites"] = [{"perplexity": {"limit": None}}, {"perplexity": {"limit": None}},
                      {"zeroshot": {"limit": None}}]  # fmt: skip
    runs["method_config"] = [{"criterion": "ppl", "sparsity": 0.2}] * 3
    runs["method_details"] = [{"removed_layers": [5, 4, 13]}, {"removed_layers": [5, 4, 18]},
                              {"removed_layers": [4, 5, 13]}]  # fmt: skip
    results = _res(
        (1, "perplexity", "wikitext2", "perplexity", 70.4, False, ""),
        (2, "perplexity", "wikitext2", "perplexity", 93.3, False, ""),
        (3, "zeroshot", "average", "average", 0.42, True, "fraction"),
    )
    table, cols = _merged_table(runs, results)
    ppl, avg = (next(c.label for c in cols if c.metric == m) for m in ("perplexity", "average"))
    by_run = table.set_index("Run")
    assert sorted(by_run.index) == [2, 3]  # 1 and 3 removed the same layers: one row
    assert (by_run.loc[3, ppl], by_run.loc[3, avg]) == (70.4, 0.42)
    assert by_run.loc[2, ppl] == 93.3 and math.isnan(by_run.loc[2, avg])
    assert by_run.loc[3, "Config"] == "removed_layers=4,5,13"
    assert by_run.loc[2, "Config"] == "removed_layers=4,5,18"
