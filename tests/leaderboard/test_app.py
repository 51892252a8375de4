"""Every page through streamlit's AppTest against the seeded store; expectations are computed
from the store's own reads (``db.store.Store``) with plain loops, not from the app's code."""

from __future__ import annotations

import io
import math
import re

import pandas as pd
import pytest

from tests.leaderboard.conftest import app_test

pytest.importorskip("streamlit")


def _store(url):
    from db.store import Store

    return Store(url, migrate=False)


def _expected_latest(url) -> set[int]:
    """Newest succeeded run per key among runs that stored results (plain loop over the store)."""
    latest: dict[tuple, int] = {}
    for run in _store(url).runs(status="succeeded"):
        if not _store(url).results([run.id]):
            continue
        key = (run.model_id, run.method_name, round(run.sparsity or 0.0, 6))
        latest[key] = max(latest.get(key, 0), run.id)
    return set(latest.values())


def _value(url, run_id, suite, task, metric):
    for r in _store(url).results([run_id]):
        if (r.suite, r.task, r.metric) == (suite, task, metric):
            return r.value
    return None


def _col(table: pd.DataFrame, *parts: str) -> str:
    hits = [c for c in table.columns if all(p in c for p in parts)]
    assert len(hits) == 1, (parts, hits)
    return hits[0]


def _frame_with(at, column: str, index: int = 0):
    """The ``index``-th dataframe element that has ``column`` (read-only tables carry no key)."""
    return [d for d in at.dataframe if column in d.value.columns][index]


def _scales(spec: str) -> dict[str, dict]:
    """axis -> the scale of the chart's field ``x`` / ``y`` encodings (any layer)."""
    import json

    out = {}
    for layer in json.loads(spec).get("layer", []):
        for axis, enc in layer.get("encoding", {}).items():
            if isinstance(enc, dict) and enc.get("field") in ("x", "y") and "scale" in enc:
                out[axis] = enc["scale"]
    return out


def _board(at) -> pd.DataFrame:
    assert len(at.dataframe) == 1
    return at.dataframe[0].value


def test_leaderboard_rows_are_latest_successful_runs(seeded):
    url, runs = seeded
    table = _board(app_test())
    assert set(table["Run"]) == _expected_latest(url)
    assert runs["smol/shortgpt/0.2/old"] not in set(table["Run"])  # superseded by a newer run
    assert set(table["Status"]) == {"succeeded"}
    ppl = _col(table, "Perplexity", "WikiText-2")
    for run_id, value in zip(table["Run"], table[ppl]):
        assert value == pytest.approx(
            _value(url, int(run_id), "perplexity", "wikitext2", "perplexity")
        )


def test_missing_suites_are_blank(seeded):
    _, runs = seeded
    table = _board(app_test()).set_index("Run")
    no_speed = runs["smollm2-135m-instruct/orthorank/0.1"]
    assert math.isnan(table.loc[no_speed, _col(table, "prefill", "speedup")])
    gemma = runs["gemma-3-270m/dense/0.0"]
    assert math.isnan(table.loc[gemma, _col(table, "LongBench", "Average")])
    assert not math.isnan(table.loc[gemma, _col(table, "Zero-shot", "Average")])


def test_all_runs_toggle_shows_failed_running_and_superseded(seeded):
    url, runs = seeded
    at = app_test()
    at.toggle(key="lb_all_runs").set_value(True).run()
    table = _board(at).set_index("Run")
    assert set(table.index) == {r.id for r in _store(url).runs()}
    running = runs["smol/orthorank/0.3/running"]
    assert table.loc[running, "Status"] == "running"
    metric_cols = [c for c in table.columns if "·" in c]
    assert table.loc[running, metric_cols].isna().all()  # nothing stored: blanks, not zeros


def test_sort_follows_metric_direction(seeded):
    at = app_test()
    table = _board(at)
    avg = _col(table, "Zero-shot", "Average")
    assert at.selectbox(key="lb_sort").value == avg
    assert table[avg].dropna().is_monotonic_decreasing  # higher is better: best first
    ppl = _col(table, "Perplexity", "WikiText-2")
    at.selectbox(key="lb_sort").set_value(ppl).run()
    assert _board(at)[ppl].is_monotonic_increasing  # lower is better: best first
    at.toggle(key="lb_best_first").set_value(False).run()
    assert _board(at)[ppl].is_monotonic_decreasing


def test_filters_and_search(seeded):
    at = app_test()
    at.multiselect(key="lb_models").set_value(["gemma-3-270m"]).run()
    assert set(_board(at)["Model"]) == {"gemma-3-270m"}
    at.multiselect(key="lb_models").set_value([]).run()
    at.slider(key="lb_sparsity").set_value((0.15, 0.25)).run()
    assert set(_board(at)["Sparsity"]) == {0.2}
    at.slider(key="lb_sparsity").set_value((0.0, 0.5)).run()
    at.text_input(key="lb_search").input("SLEB").run()
    assert set(_board(at)["Method"]) == {"sleb"}
    at.text_input(key="lb_search").input("").run()
    at.multiselect(key="lb_suites").set_value(["longbench"]).run()
    table = _board(at)
    assert set(table["Model"]) == {"smollm2-135m-instruct"}  # gemma has no LongBench results
    assert all(c.startswith("LongBench") for c in table.columns if "·" in c)


def test_relative_to_dense_values(seeded):
    url, runs = seeded
    at = app_test()
    raw = _board(at).set_index("Run")
    at.toggle(key="lb_relative").set_value(True).run()
    rel = _board(at).set_index("Run")
    ppl, avg = _col(rel, "Perplexity", "WikiText-2"), _col(rel, "Zero-shot", "Average")
    dense = {
        "smollm2-135m-instruct": runs["smollm2-135m-instruct/dense/0.0"],
        "gemma-3-270m": runs["gemma-3-270m/dense/0.0"],
    }
    for run_id in rel.index:
        base = dense[rel.loc[run_id, "Model"]]
        want_ppl = _value(url, int(run_id), "perplexity", "wikitext2", "perplexity") - _value(
            url, base, "perplexity", "wikitext2", "perplexity"
        )
        want_avg = 100 * (
            _value(url, int(run_id), "zeroshot", "average", "average")
            - _value(url, base, "zeroshot", "average", "average")
        )
        assert rel.loc[run_id, ppl] == pytest.approx(want_ppl)
        assert rel.loc[run_id, avg] == pytest.approx(want_avg)  # percentage points
    assert set(rel.index) == set(raw.index)
    at.radio(key="lb_change").set_value("percent").run()
    pct = _board(at).set_index("Run")
    run_id = runs["smollm2-135m-instruct/shortgpt/0.2"]
    base = raw.loc[dense["smollm2-135m-instruct"], ppl]
    assert pct.loc[run_id, ppl] == pytest.approx(100 * (raw.loc[run_id, ppl] - base) / base)


def test_best_value_per_column_is_highlighted(seeded):
    at = app_test()
    table = _board(at)
    styles = at.dataframe[0].proto.arrow_data.styler.styles
    cells = {(int(r), int(c)) for r, c in re.findall(r"row(\d+)_col(\d+)", styles)}
    ppl = _col(table, "Perplexity", "WikiText-2")
    best = table[ppl].min()
    want = {(i, table.columns.get_loc(ppl)) for i, v in enumerate(table[ppl]) if v == best}
    assert want and want <= cells
    assert not any(c == table.columns.get_loc(ppl) and (r, c) not in want for r, c in cells)


def test_downloads_are_exactly_what_is_shown(seeded, monkeypatch):
    from streamlit.delta_generator import DeltaGenerator

    captured: dict[str, str] = {}
    original = DeltaGenerator.download_button

    def spy(self, label, data, *args, **kwargs):
        captured[label] = data
        return original(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", spy)
    at = app_test()
    at.multiselect(key="lb_methods").set_value(["sleb", "dense"]).run()
    shown = _board(at)
    from_csv = pd.read_csv(io.StringIO(captured["Download CSV"]), keep_default_na=True)
    assert list(from_csv.columns) == list(shown.columns)
    texts = {c: "" for c in shown if not pd.api.types.is_numeric_dtype(shown[c])}  # blank: NaN
    pd.testing.assert_frame_equal(from_csv.fillna(texts), shown.fillna(texts), check_dtype=False)
    from_json = pd.read_json(io.StringIO(captured["Download JSON"]), orient="records")
    assert list(from_json["Run"]) == list(shown["Run"])


def test_speedup_column_is_ratio_to_dense_tokens_per_s(seeded):
    url, runs = seeded
    table = _board(app_test()).set_index("Run")
    col = _col(table, "prefill", "speedup")
    task = "prefill/b1x2048"
    dense = _value(url, runs["smollm2-135m-instruct/dense/0.0"], "throughput", task, "tokens_per_s")
    run_id = runs["smollm2-135m-instruct/sleb/0.2"]
    assert table.loc[run_id, col] == pytest.approx(
        _value(url, run_id, "throughput", task, "tokens_per_s") / dense
    )


def test_accuracy_vs_speed_chart_and_frontier(seeded):
    url, runs = seeded
    at = app_test("scatter")
    assert at.selectbox(key="sc_model").value == "smollm2-135m-instruct"
    assert len(at.get("vega_lite_chart")) == 1
    front = at.dataframe[0].value
    # independent frontier: latest smollm2 runs with both values, plain dominance loop
    task = "prefill/b1x2048"
    dense_tps = _value(
        url, runs["smollm2-135m-instruct/dense/0.0"], "throughput", task, "tokens_per_s"
    )
    pts = {}
    for run_id in _expected_latest(url):
        run = _store(url).get_run(run_id)
        tps = _value(url, run_id, "throughput", task, "tokens_per_s")
        if run.model_id == "smollm2-135m-instruct" and tps is not None:
            pts[run_id] = (tps / dense_tps, _value(url, run_id, "zeroshot", "average", "average"))
    want = {
        i
        for i, p in pts.items()
        if not any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in pts.values())
    }
    assert set(front["Run"]) == want
    # perplexity: lower is better, so its axis is reversed (up = better)
    ppl = next(o for o in at.selectbox(key="sc_quality").options if "WikiText-2" in o)
    at.selectbox(key="sc_quality").set_value(ppl).run()
    scales = _scales(at.get("vega_lite_chart")[0].proto.spec)
    assert scales["y"]["reverse"] is True and scales["x"]["reverse"] is False


def test_run_detail_layer_strip_results_and_provenance(seeded):
    url, runs = seeded
    run_id = runs["smollm2-135m-instruct/shortgpt/0.2"]
    at = app_test("run_detail", {"run": str(run_id)})
    assert at.selectbox(key="rd_run").value == run_id
    removed = _store(url).get_run(run_id).method_details["removed_layers"]
    assert any(c.value.endswith("in order: " + " → ".join(map(str, removed))) for c in at.caption)
    results = _frame_with(at, "stderr").value
    stored = _store(url).results([run_id])
    piqa = results[(results["task"] == "piqa") & (results["metric"] == "Accuracy")].iloc[0]
    ref = next(r for r in stored if (r.task, r.metric) == ("piqa", "acc"))
    assert (piqa["value"], piqa["stderr"], piqa["n"]) == (ref.value, ref.stderr, ref.n)
    assert len(results[results["source"] == "stored"]) == len(stored)
    files = _store(url).get_run(run_id).data_files
    code = "\n".join(c.value for c in at.code)
    assert files and all(f"{path}  {digest}" in code for path, digest in files.items())


def test_run_detail_sink_curves_samples_and_failure(seeded):
    _, runs = seeded
    at = app_test("run_detail", {"run": str(runs["smol/analysis/sink"])})
    assert "Diagnostics" in [s.value for s in at.subheader]
    charts = at.get("vega_lite_chart")
    assert len(charts) == 3  # layer strip + the sink artifact's two per-layer curves
    assert any('"title": "mean_cos"' in c.proto.spec for c in charts)
    assert any('"title": "sink_change"' in c.proto.spec for c in charts)  # starts with a gap (None)
    assert any("No results stored" in i.value for i in at.info)
    at = app_test("run_detail", {"run": str(runs["smollm2-135m-instruct/dense/0.0"])})
    assert "zeroshot/samples: piqa" in at.selectbox(key="rd_records").options
    assert len(_frame_with(at, "doc_id").value) == 6
    at = app_test("run_detail", {"run": str(runs["gemma/sleb/0.3/failed"])})
    assert any("CUDA out of memory" in e.value for e in at.error)


def test_diagnostics_only_run_does_not_hide_the_dense_row(seeded):
    _, runs = seeded
    table = _board(app_test())
    assert runs["smollm2-135m-instruct/dense/0.0"] in set(table["Run"])
    assert runs["smol/analysis/sink"] not in set(table["Run"])


def test_compare_shows_differences(seeded):
    url, runs = seeded
    a, b = runs["smollm2-135m-instruct/dense/0.0"], runs["smollm2-135m-instruct/sleb/0.2"]
    at = app_test("compare", {"runs": f"{a},{b}"})
    config = _frame_with(at, "field").value.set_index("field")
    assert config.loc["method", "same"] == "differs" and config.loc["model", "same"] == "✓"
    table = _frame_with(at, "metric").value.set_index("metric")
    row = next(i for i in table.index if "WikiText-2" in i and "NLL" not in i)
    want = _value(url, b, "perplexity", "wikitext2", "perplexity") - _value(
        url, a, "perplexity", "wikitext2", "perplexity"
    )
    assert table.loc[row, f"Δ #{b} − #{a}"] == pytest.approx(want)


def test_queue_counts_progress_and_errors(seeded):
    from sqlalchemy import text

    from db.engine import get_engine

    url, _ = seeded
    with get_engine(url).connect() as conn:
        counts = dict(conn.execute(text("SELECT status, count(*) FROM jobs GROUP BY status")).all())
        progress = conn.execute(
            text("SELECT progress_fraction FROM jobs WHERE status='running'")
        ).scalar()
    at = app_test("jobs_queue")
    shown = {m.label.lower(): int(m.value) for m in at.metric}
    assert shown == {
        s: counts.get(s, 0) for s in ("running", "queued", "failed", "succeeded", "cancelled")
    }
    assert [p.value for p in at.get("progress")] == [round(100 * progress)]  # percent
    assert any("CUDA out of memory" in c.value for c in at.code)
    assert len(_frame_with(at, "What").value) == counts["queued"]


@pytest.mark.parametrize("page", [None, "scatter", "run_detail", "compare", "jobs_queue"])
def test_empty_store_is_friendly_and_never_created(page, tmp_path, monkeypatch):
    from skipbench.settings import reset_settings_cache

    db_file = tmp_path / "nothing-here.db"
    monkeypatch.setenv("SKIPBENCH_DATABASE_URL", f"sqlite:///{db_file}")
    reset_settings_cache()
    at = app_test(page)
    if page == "jobs_queue":
        assert any("queue is empty" in i.value for i in at.info)
    else:
        assert any("No results yet" in i.value for i in at.info)
        assert any("skipbench run --model" in c.value for c in at.code)
    assert not db_file.exists()  # read-only: the app does not create the store


def test_empty_migrated_store(tmp_path, monkeypatch):
    from db.store import Store
    from skipbench.settings import reset_settings_cache

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    Store(url)
    monkeypatch.setenv("SKIPBENCH_DATABASE_URL", url)
    reset_settings_cache()
    at = app_test()
    assert any("No results yet" in i.value for i in at.info)


def test_leaderboard_on_postgresql(pg_demo_store, monkeypatch):
    from skipbench.settings import reset_settings_cache

    url, runs = pg_demo_store
    monkeypatch.setenv("SKIPBENCH_DATABASE_URL", url)
    reset_settings_cache()
    table = _board(app_test())
    assert set(table["Run"]) == _expected_latest(url)
    at = app_test("jobs_queue")
    assert {m.label.lower(): int(m.value) for m in at.metric}["running"] == 1


# --- issue 14: rows per evaluation config, on a store that reproduces what used to go wrong ---


@pytest.fixture(scope="module")
def eval_store(tmp_path_factory) -> tuple[str, dict[str, int]]:
    from leaderboard.seed import seed_evaluations

    url = f"sqlite:///{tmp_path_factory.mktemp('lb_eval') / 'eval.db'}"
    return url, seed_evaluations(url)


@pytest.fixture
def eval_seeded(eval_store, monkeypatch) -> tuple[str, dict[str, int]]:
    from skipbench.settings import reset_settings_cache

    monkeypatch.setenv("SKIPBENCH_DATABASE_URL", eval_store[0])
    reset_settings_cache()
    return eval_store


def _row_with(table: pd.DataFrame, run_id: int) -> pd.Series:
    """The board row that merged ``run_id`` (Runs lists every merged run as #id)."""
    hits = table[table["Runs"].str.split(", ").map(lambda ids: f"#{run_id}" in ids)]
    assert len(hits) >= 1, (run_id, list(table["Runs"]))
    return hits.iloc[0]


def test_suites_of_separate_runs_merge_into_one_row(eval_seeded):
    url, ids = eval_seeded
    table = _board(app_test())
    ppl, avg = _col(table, "Perplexity", "WikiText-2"), _col(table, "Zero-shot", "Average")
    dense = _row_with(table, ids["dense/ppl"])
    assert f"#{ids['dense/zs']}" in dense["Runs"].split(", ")
    assert dense[ppl] == _value(url, ids["dense/ppl"], "perplexity", "wikitext2", "perplexity")
    assert dense[avg] == _value(url, ids["dense/zs"], "zeroshot", "average", "average")
    short = _row_with(table, ids["shortgpt0.2/zs"])
    assert short[ppl] == _value(
        url, ids["shortgpt0.2/ppl"], "perplexity", "wikitext2", "perplexity"
    )
    # the best zero-shot average is dense's, no longer hidden behind its newest (smoke) run
    best = table[avg].max()
    assert best == dense[avg] and set(table.loc[table[avg] == best, "Method"]) == {"dense"}


def test_smoke_dense_run_is_its_own_row_and_its_own_baseline(eval_seeded):
    url, ids = eval_seeded
    at = app_test()
    table = _board(at)
    ppl = _col(table, "Perplexity", "WikiText-2")
    smoke = table[table["Run"] == ids["dense/smoke"]].iloc[0]
    assert smoke[ppl] == 35.38 and "limit=1" in smoke["Evaluation"]
    full = [v for m, v in zip(table["Method"], table[ppl]) if m == "dense" and v != 35.38]
    assert full and set(full) == {20.24}
    at.toggle(key="lb_relative").set_value(True).run()
    rel = _board(at).set_index("Run")
    short_full = _row_with(table, ids["shortgpt0.2/ppl"])["Run"]
    assert rel.loc[short_full, ppl] == pytest.approx(28.0 - 20.24)  # full against full
    assert rel.loc[ids["shortgpt0.2/smoke"], ppl] == pytest.approx(45.0 - 35.38)  # smoke vs smoke


def test_two_orthorank_configs_at_one_sparsity_are_two_rows(eval_seeded):
    _, ids = eval_seeded
    table = _board(app_test())
    ortho = table[table["Method"] == "orthorank"].set_index("Run")
    assert set(ortho.index) == {ids["orthorank0.2/last"], ids["orthorank0.2/0-15"]}
    assert ortho.loc[ids["orthorank0.2/last"], "Config"] == "layers=last"


def test_speed_above_ideal_and_cpu_rows_are_flagged(eval_seeded):
    _, ids = eval_seeded
    at = app_test()
    table = _board(at).set_index("Run")
    fast = table.loc[ids["shortgpt0.1/tp-gpu"], "Speed check"]
    assert "3.18× is above its ideal 1.11×" in fast
    cpu = table.loc[ids["dense/tp-cpu"], "Speed check"]
    assert "not comparable across machines" in cpu and "time to first token" in cpu
    assert "⚠" not in table.loc[ids["dense/tp-gpu"], "Speed check"]
    assert any(str(ids["shortgpt0.1/tp-gpu"]) in w.value for w in at.warning)
    at = app_test("run_detail", {"run": str(ids["shortgpt0.1/tp-gpu"])})
    assert any("above its ideal" in w.value for w in at.warning)


def _chart_data(at) -> list[dict]:
    """Every record of every data set of the page's chart (AppTest keeps them as Arrow)."""
    import pyarrow as pa

    chart = at.get("vega_lite_chart")[0].proto
    frames = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.datasets]
    return [r for f in frames for r in f.to_dict("records")]


def _chart_points(at) -> list[dict]:
    """Unique plotted rows (each point is drawn by several layers)."""
    seen = {}
    for r in _chart_data(at):
        if "x" in r and "y" in r and "Run" in r and "label" in r:
            seen[r["Run"]] = r
    return list(seen.values())


def test_chart_merges_runs_splits_devices_labels_and_draws_references(eval_seeded):
    import json

    _, ids = eval_seeded
    at = app_test("scatter")
    devices = at.selectbox(key="sc_device").options
    assert len(devices) == 2 and any(d.startswith("cpu") for d in devices)
    gpu = next(d for d in devices if not d.startswith("cpu"))
    at.selectbox(key="sc_device").set_value(gpu).run()
    points = _chart_points(at)
    assert points and {p["Device"] for p in points} == {gpu}  # never CPU and GPU on one axis
    dense = [p for p in points if p["Method"] == "dense"]
    assert len(dense) == 1 and dense[0]["y"] == 0.70  # quality of run dense/zs ...
    assert dense[0]["Run"] == ids["dense/tp-gpu"]  # ... speed of run dense/tp-gpu
    assert {p["label"] for p in points} >= {"dense", "shortgpt 20%"}
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    ideals = [r["ideal"] for r in _chart_data(at) if "ideal" in r]
    assert 1.25 in ideals  # 1 / (1 - 0.2)
    marks = [layer["mark"] for layer in spec["layer"]]
    assert any(isinstance(m, dict) and m.get("shape") == "diamond" for m in marks)
    domain = _scales(at.get("vega_lite_chart")[0].proto.spec)["x"]["domain"]
    xs = [p["x"] for p in points] + ideals
    assert domain[0] < min(xs) and domain[1] > max(xs)  # padded: nothing on the edge
    cpu = next(d for d in devices if d.startswith("cpu"))
    at.selectbox(key="sc_device").set_value(cpu).run()
    assert {p["Device"] for p in _chart_points(at)} == {cpu}
    assert any("not comparable across machines" in w.value for w in at.warning)


def test_cli_results_latest_groups_like_the_board(eval_seeded):
    """``skipbench results --latest`` applies the same rows (db.evaluation) as the board."""
    import json
    import os
    import subprocess
    import sys

    url, ids = eval_seeded
    env = {**os.environ, "SKIPBENCH_DATABASE_URL": url}
    out = subprocess.run(
        [sys.executable, "-m", "cli.main", "results", "--latest", "--format", "json"],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip
    records = json.loads(out.stdout)
    board = _board(app_test())
    assert {r["run_id"] for r in records} == set(board["Run"])
    dense = next(r for r in records if ids["dense/zs"] in r["merged_runs"])
    values = {(x["task"], x["metric"]): x["value"] for x in dense["results"]}
    assert values[("wikitext2", "perplexity")] == 20.24 and values[("average", "average")] == 0.70


# --- issue 14 items 3 and 5 to 9: settings, layout, samples, compare, queue, URLs ---


def test_evaluation_settings_are_columns_and_can_be_hidden(eval_seeded):
    url, ids = eval_seeded
    at = app_test()
    table = _board(at).set_index("Run")
    smoke, full = ids["dense/smoke"], _row_with(_board(at), ids["dense/ppl"])["Run"]
    assert table.loc[smoke, "Limit"] == "perplexity=1" and table.loc[smoke, "Seq len"] == "256"
    assert table.loc[full, "Limit"] == "full" and "2048" in table.loc[full, "Seq len"]
    short = _row_with(_board(at), ids["shortgpt0.2/ppl"])["Run"]
    record = _store(url).get_run(ids["shortgpt0.2/ppl"]).method_details["calibration"]
    want = f"{record['label']} · {record['num_samples']} × {record['seq_len']} tokens"
    assert table.loc[short, "Calibration"] == want and table.loc[full, "Calibration"] == ""
    at.multiselect(key="lb_hidden").set_value(["Seq len", "Calibration"]).run()
    shown = _board(at)
    assert "Seq len" not in shown and "Calibration" not in shown and "Limit" in shown
    assert at.query_params.get("hide") == ["Seq len", "Calibration"]  # shared in the URL


def test_layout_pins_identity_and_keeps_the_sort_column_in_view(eval_seeded):
    at = app_test()
    table = _board(at)
    assert list(table.columns[:8]) == [
        "Run", "Model", "Method", "Sparsity", "Strategy", "Layers", "Device", "Status",
    ]  # fmt: skip
    config = at.dataframe[0].proto.columns
    assert all(f'"{c}"' in config and '"pinned": true' in config for c in ("Sparsity", "Strategy"))
    assert set(table.loc[table["Method"] == "orthorank", "Strategy"]) == {"last", "0-15"}
    assert set(table.loc[table["Method"] == "shortgpt", "Strategy"]) == {"remove"}
    headers = [c for c in table.columns if c.startswith("Throughput")]
    assert "Throughput · prefill 1x2048 speedup ↑" in headers
    assert not any("/b1" in h for h in headers)  # no raw shape names
    last = [c for c in table.columns if "·" in c][-1]
    at.selectbox(key="lb_sort").set_value(last).run()
    assert list(_board(at).columns).index(last) == 8  # right after the identity columns


def test_run_detail_shows_model_sparsity_calibration_job_and_provenance_fields(eval_seeded):
    url, ids = eval_seeded
    run = _store(url).get_run(ids["dense/ppl"])
    at = app_test("run_detail", {"run": str(run.id)})
    fields = {}
    for table in at.table:
        frame = table.value
        if "value" in frame:
            fields.update(dict(zip(frame.index, frame["value"])))
    assert fields["model id"] == run.model_id and fields["dtype"] == run.model_dtype
    assert fields["revision"] == "main" and fields["parameters"] == f"{run.model_params:,}"
    assert fields["random weights"] == "no" and fields["job"] == f"#{run.job_id}"
    assert fields["layers"] == "30" and fields["git sha"] == run.provenance["git_sha"]
    assert fields["python"] == run.provenance["python"]  # provenance as fields, not JSON
    code = "\n".join(c.value for c in at.code)
    assert run.model_hash in code  # copyable, never cut off
    short = _store(url).get_run(ids["shortgpt0.1/ppl"])
    at = app_test("run_detail", {"run": str(short.id)})
    fields = {k: v for t in at.table if "value" in t.value for k, v in t.value["value"].items()}
    assert (
        fields["realized sparsity"]
        == "3 of 30 layers removed, realized 10.0%, 9.5% of parameters removed"
    )
    assert fields["calibration"] == "c4_2k · 128 × 2048 tokens"
    digest = short.method_details["calibration"]["files"]["c4/validation_2k.jsonl"]
    assert f"c4/validation_2k.jsonl  {digest}" in "\n".join(c.value for c in at.code)


def test_per_sample_view_shows_prompt_choice_gold_and_metric(seeded):
    url, runs = seeded
    dense = runs["smollm2-135m-instruct/dense/0.0"]
    at = app_test("run_detail", {"run": str(dense)})
    payload = next(a for a in _store(url).artifacts(dense) if a.name == "samples").payload
    view = _frame_with(at, "model's answer").value
    first = payload["piqa"][0]
    assert view.loc[0, "prompt"] == " ".join(first["prompt"].split())
    assert (
        view.loc[0, "model's answer"]
        == f"{first['choices'][first['choice']].strip()} ({first['choice']})"
    )
    assert view.loc[0, "gold"] == f"{first['choices'][first['target']].strip()} ({first['target']})"
    assert view.loc[0, "metric"] == f"acc={first['acc']:g}"
    assert any(first["prompt"] in c.value for c in at.code)  # the full text, on demand
    at.selectbox(key="rd_records").set_value("zeroshot/samples: winogrande").run()
    old = _frame_with(at, "model's answer").value  # stored before prompts were kept
    assert old.loc[0, "prompt"].startswith("(prompt not stored; sha256")
    lls = payload["winogrande"][0]["loglikelihoods"]
    assert old.loc[0, "model's answer"] == str(max(range(len(lls)), key=lls.__getitem__))


def test_compare_blanks_percent_deltas_same_column_and_config_fields(eval_seeded):
    url, ids = eval_seeded
    four = [ids["dense/ppl"], ids["shortgpt0.2/ppl"], ids["orthorank0.2/last"], ids["dense/zs"]]
    at = app_test("compare", {"runs": ",".join(map(str, four))})
    config = _frame_with(at, "field").value
    assert list(config.columns[:2]) == ["field", "same"]  # visible with four runs
    config = config.set_index("field")
    assert config.loc["config: layers", f"#{ids['orthorank0.2/last']}"] == "last"
    assert config.loc["config: layers", f"#{ids['dense/ppl']}"] == ""  # blank, not None
    assert not (config == "None").any().any()
    table = _frame_with(at, "metric").value.set_index("metric")
    row = _col(table.T, "Perplexity", "WikiText-2")
    a, b = ids["dense/ppl"], ids["shortgpt0.2/ppl"]
    assert table.loc[row, f"Δ% #{b} vs #{a}"] == pytest.approx(100 * (28.0 - 20.24) / 20.24)
    assert math.isnan(table.loc[row, f"#{ids['dense/zs']}"])  # missing: NaN, shown blank


def test_queue_descriptions_progress_and_failures(seeded):
    at = app_test("jobs_queue")
    text = " ".join(m.value for m in at.markdown)
    assert "device auto" in text and "perplexity + zeroshot" in text
    assert "running for" in text and "· run " in text
    captions = " ".join(c.value for c in at.caption)
    assert "nan" not in captions and "stopped before the first suite" in captions
    assert any("is not cached" in c.value for c in at.code)
    assert all("nan" not in p.proto.text for p in at.get("progress"))


def test_every_page_has_a_path_and_the_board_reads_filters_from_the_url(eval_seeded):
    from leaderboard.app import PAGES

    paths = [p[3] for p in PAGES]
    assert "leaderboard" in paths and len(set(paths)) == len(paths)
    at = app_test(query={"method": "dense", "relative": "1", "q": "limit=1"})
    assert at.multiselect(key="lb_methods").value == ["dense"]
    assert at.toggle(key="lb_relative").value is True
    table = _board(at)
    assert set(table["Method"]) == {"dense"} and len(table) == 1
    at.multiselect(key="lb_methods").set_value(["shortgpt"]).run()
    assert at.query_params.get("method") in ("shortgpt", ["shortgpt"])
    assert "sort" not in at.query_params  # defaults stay out of the URL


def test_leaderboard_command_hides_the_deploy_button():
    from cli.leaderboard_cmd import streamlit_argv

    argv = streamlit_argv(8501, "127.0.0.1")
    assert argv[argv.index("--client.toolbarMode") + 1] == "viewer"


def test_run_detail_of_a_sublayer_method_names_its_sublayers(tmp_path, monkeypatch):
    """A shipped LLM-Drop run (attention sublayers removed): the caption lists the removed
    sublayers in their removal order, read from the stored details."""
    from pathlib import Path

    from db import bundle_format
    from db.bundles import import_bundle
    from db.store import Store
    from skipbench.settings import reset_settings_cache

    url = f"sqlite:///{tmp_path / 'lb.db'}"
    Store(url)  # creates the schema
    bundle = Path(__file__).resolve().parents[2] / "results" / "gemma3-270m-cpu-bf16-b.json"
    import_bundle(url, bundle_format.read(bundle), bundle)
    run = next(r for r in _store(url).runs(status="succeeded") if r.method_name == "llm-drop")
    monkeypatch.setenv("SKIPBENCH_DATABASE_URL", url)
    reset_settings_cache()
    at = app_test("run_detail", {"run": str(run.id)})
    sublayers = run.method_details["removed_sublayers"]
    assert any(
        c.value.startswith(f"{len(sublayers)} sublayers removed")
        and c.value.endswith("in order: " + " → ".join(sublayers))
        for c in at.caption
    ), [c.value for c in at.caption]
