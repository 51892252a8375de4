"""Reported numbers: results/reported/*.yaml into the store (validated, idempotent, apart from
measured runs), and on the leaderboard (own table, side by side with a measured twin)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from skipbench.errors import InvalidInput

REPORTED = sorted((Path(__file__).resolve().parents[2] / "results" / "reported").glob("*.yaml"))
ONE = """paper: A paper
arxiv: "2402.09025"
defaults: {table: Table 2, source: "https://example.org/t2", suite: perplexity, task: wikitext2,
           metric: perplexity, model: tiny/model, protocol: {seq_len: 2048}}
entries:
  - {method: dense, value: 10.5}
  - {method: sleb, sparsity: 0.2, setting: {calib_samples: 128}, value: 12.25}
  - {method: sleb, sparsity: 0.2, setting: {calib_samples: 128}, suite: zeroshot, task: average,
     metric: average, unit: percent, value: 61.5, protocol: {}}
"""


def _url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 's.db'}"


def _write(tmp_path, text, name="r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _stored(url):
    from sqlalchemy import create_engine, text

    with create_engine(url).connect() as c:
        runs = c.execute(text("select id, status, method_name from runs")).all()
        results = c.execute(text("select run_id, task, metric, value, unit from results")).all()
    return runs, results


def test_shipped_files_import_every_entry_once(tmp_path):
    from db.reported import import_reported

    entries = [e for f in REPORTED for e in yaml.safe_load(f.read_text())["entries"]]
    report = import_reported(_url(tmp_path), REPORTED)
    runs, results = _stored(_url(tmp_path))
    assert report.numbers == len(entries) == len(results) > 200
    assert {r.status for r in runs} == {"reported"}
    again = import_reported(_url(tmp_path), REPORTED)
    assert (again.added, again.replaced, again.already) == (0, 0, len(runs))
    assert len(_stored(_url(tmp_path))[1]) == len(results)
    for f in REPORTED:  # every entry names its source URL, directly or through the file
        doc = yaml.safe_load(f.read_text())
        for e in doc["entries"]:
            assert {**(doc.get("defaults") or {}), **e}["source"].startswith("https://github.com/")


def test_groups_percent_and_replacement(tmp_path):
    from db.reported import import_reported

    url = _url(tmp_path)
    report = import_reported(url, [_write(tmp_path, ONE)])
    assert (report.numbers, report.added) == (3, 3)  # dense; sleb perplexity; sleb zero-shot
    runs, results = _stored(url)
    values = {(r.task, r.metric): (r.value, r.unit) for r in results}
    assert values[("average", "average")] == (pytest.approx(0.615), "fraction")
    assert values[("wikitext2", "perplexity")][0] in (10.5, 12.25)
    changed = import_reported(url, [_write(tmp_path, ONE.replace("12.25", "12.5"))])
    assert (changed.added, changed.replaced, changed.already) == (0, 1, 2)
    assert sorted(r.value for r in _stored(url)[1] if r.metric == "perplexity") == [10.5, 12.5]


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("arxiv: \"2402.09025\"", "arxiv: \"24-02\"", "arxiv"),
        ("value: 10.5", "value: .nan", "finite"),
        ("sparsity: 0.2, setting", "sparsity: 1.5, setting", "sparsity 1.5"),
        ("value: 10.5}", "value: 10.5, colour: red}", "unknown field 'colour'"),
        ("value: 61.5", "value: 161.5", "percentage"),
        ("{method: dense, value: 10.5}", "{method: dense, value: 10.5}\n  - {method: dense, value: 9}", "repeats entry 1"),
        ("source: \"https://example.org/t2\", ", "", "missing 'source'"),
        ("entries:", "entries: [", "not valid YAML"),
    ],
)  # fmt: skip
def test_bad_files_are_refused_in_one_line_with_nothing_stored(tmp_path, old, new, says):
    from db.reported import import_reported

    good = _write(tmp_path, ONE, "good.yaml")
    bad = _write(tmp_path, ONE.replace(old, new), "bad.yaml")
    with pytest.raises(InvalidInput) as err:
        import_reported(_url(tmp_path), [good, bad])
    assert says in str(err.value) and "\n" not in str(err.value)
    assert "bad.yaml" in str(err.value)
    assert not (tmp_path / "s.db").exists() or _stored(_url(tmp_path)) == ([], [])


def test_cli_exit_codes(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "SKIPBENCH_HOME": str(tmp_path)}
    env.pop("SKIPBENCH_DATABASE_URL", None)

    def cli(*args):
        cmd = [sys.executable, "-m", "cli.main", "import", "--reported", *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)

    ok = cli(str(_write(tmp_path, ONE)))
    assert ok.returncode == 0 and "3 run(s) added" in ok.stdout, ok.stderr
    bad = _write(tmp_path, ONE.replace("value: 10.5", "value: ten"), "bad.yaml")
    refused = cli(str(bad))
    assert refused.returncode == 2
    assert "value 'ten'" in refused.stderr + refused.stdout
    assert len((refused.stderr + refused.stdout).strip().splitlines()) == 1


def _measured(url, method, sparsity, config, suites, results):
    from db.engine import session_scope
    from db.models import Result, Run

    with session_scope(url) as s:
        run = Run(status="succeeded", model_id="tiny/model", model_dtype="float32",
                  method_name=method, method_config=config, sparsity=sparsity, suites=suites,
                  provenance={})  # fmt: skip
        s.add(run)
        s.flush()
        for task, metric, value in results:
            s.add(Result(run_id=run.id, suite=next(iter(suites)), task=task, metric=metric,
                         value=value, higher_is_better=metric != "perplexity"))  # fmt: skip
        return run.id


def _frames(url):
    from db import queries
    from db.engine import get_engine
    from leaderboard import frames, reported

    eng = get_engine(url)
    runs = frames.runs_frame(queries.runs(eng))
    return reported.split(runs, frames.results_frame(queries.results(eng)))


def test_side_by_side_only_for_the_same_setting_and_protocol(tmp_path):
    from db.reported import import_reported
    from leaderboard import reported

    url = _url(tmp_path)
    import_reported(url, [_write(tmp_path, ONE)])
    ppl = {"perplexity": {"tasks": ["wikitext2"], "limit": None, "seq_len": 2048}}
    twin = _measured(url, "sleb", 0.2, {"sparsity": 0.2, "calib_samples": 128}, ppl,
                     [("wikitext2", "perplexity", 13.0)])  # fmt: skip
    _measured(url, "sleb", 0.2, {"sparsity": 0.2, "calib_samples": 64}, ppl,
              [("wikitext2", "perplexity", 99.0)])  # other setting  # fmt: skip
    _measured(
        url,
        "dense",
        0.0,
        {},
        {"perplexity": {**ppl["perplexity"], "limit": 8}},
        [("wikitext2", "perplexity", 11.0)],
    )  # 8 windows: not the paper's protocol
    _measured(
        url,
        "dense",
        0.0,
        {},
        {"perplexity": {**ppl["perplexity"], "seq_len": 128}},
        [("wikitext2", "perplexity", 11.5)],
    )  # other window length
    runs, results, rep_runs, rep_results = _frames(url)
    assert set(runs["status"]) == {"succeeded"} and set(rep_runs["status"]) == {"reported"}
    both = reported.side_by_side(runs, results, rep_runs, rep_results)
    assert len(both) == 1
    row = both.iloc[0]
    assert (row["Method"], row["Measured run"], row["Reported"], row["Measured"]) == (
        "sleb", twin, 12.25, 13.0)  # fmt: skip
    assert row["Difference"] == pytest.approx(13.0 - 12.25)
    table = reported.reported_table(rep_runs, rep_results, [])
    assert set(table["Source"]) == {"https://example.org/t2"} and set(table["Status"]) == {
        "reported"
    }


def test_board_keeps_reported_apart_unless_asked(tmp_path, monkeypatch):
    pytest.importorskip("streamlit")
    from db.reported import import_reported
    from skipbench.settings import reset_settings_cache
    from tests.leaderboard.conftest import app_test

    url = _url(tmp_path)
    import_reported(url, [_write(tmp_path, ONE)])
    ppl = {"perplexity": {"tasks": ["wikitext2"], "limit": None, "seq_len": 2048}}
    twin = _measured(url, "sleb", 0.2, {"sparsity": 0.2, "calib_samples": 128}, ppl,
                     [("wikitext2", "perplexity", 13.0)])  # fmt: skip
    dense = _measured(url, "dense", 0.0, {}, ppl, [("wikitext2", "perplexity", 10.0)])
    _, _, rep_runs, _ = _frames(url)
    reported_ids = set(int(i) for i in rep_runs["id"])
    monkeypatch.setenv("SKIPBENCH_DATABASE_URL", url)
    reset_settings_cache()
    at = app_test()
    board = at.dataframe[0].value
    assert set(board["Run"]) == {twin, dense}  # reported runs are not on the ranked board
    theirs = next(
        d.value
        for d in at.dataframe
        if "Source" in d.value.columns
        and "Paper" in d.value.columns
        and "Reported" not in d.value.columns
    )
    assert set(theirs["Run"]) == reported_ids and set(theirs["Source"]) == {
        "https://example.org/t2"
    }
    side = next(d.value for d in at.dataframe if "Difference" in d.value.columns)
    got = dict(zip(side["Measured run"], side["Difference"], strict=True))
    assert got == {twin: pytest.approx(13.0 - 12.25), dense: pytest.approx(10.0 - 10.5)}
    at.toggle(key="lb_rank_reported").set_value(True).run()
    assert not at.exception
    board = at.dataframe[0].value
    assert reported_ids <= set(board["Run"]) and {twin, dense} <= set(board["Run"])
    assert (board.loc[board["Run"].isin(reported_ids), "Status"] == "reported").all()


def test_demo_store_holds_the_committed_results_only(tmp_path):
    import json

    from cli.demo_store import demo_inputs, demo_store
    from skipbench.settings import get_settings

    repo_results = Path(__file__).resolve().parents[2] / "results"
    assert get_settings().results_dir == repo_results  # the default: the source tree's results/
    bundles, files = demo_inputs()
    assert bundles and files and all(b.parent == repo_results for b in bundles)
    url = demo_store(tmp_path)
    assert url == demo_store(tmp_path)  # same inputs: the same store, not rebuilt
    runs, results = _stored(url)
    n_bundled = sum(json.loads(b.read_text())["run_count"] for b in bundles)
    assert sum(r.status == "succeeded" for r in runs) == n_bundled
    entries = sum(len(yaml.safe_load(f.read_text())["entries"]) for f in files)
    reported_ids = {r.id for r in runs if r.status == "reported"}
    assert sum(r.run_id in reported_ids for r in results) == entries
    from sqlalchemy import create_engine, text

    with create_engine(url).connect() as c:
        provenance = c.execute(text("select provenance from runs")).scalars().all()
    assert not any("synthetic_demo" in (p or "") for p in provenance)


def test_demo_store_reads_the_results_dir_setting(tmp_path, monkeypatch):
    """An installed package (the Docker image) has no source tree: SKIPBENCH_RESULTS_DIR says
    where the shipped results are; an empty folder is refused in one line."""
    import json
    import shutil

    from cli.demo_store import demo_inputs, demo_store
    from skipbench.settings import reset_settings_cache

    bundle = min((Path(__file__).resolve().parents[2] / "results").glob("*.json"))
    elsewhere = tmp_path / "shipped"
    elsewhere.mkdir()
    shutil.copy(bundle, elsewhere / bundle.name)
    monkeypatch.setenv("SKIPBENCH_RESULTS_DIR", str(elsewhere))
    reset_settings_cache()
    assert demo_inputs() == ([elsewhere / bundle.name], [])
    runs, _ = _stored(demo_store(tmp_path / "home"))
    assert len(runs) == json.loads(bundle.read_text())["run_count"]
    monkeypatch.setenv("SKIPBENCH_RESULTS_DIR", str(tmp_path / "empty"))
    reset_settings_cache()
    with pytest.raises(InvalidInput, match="no result bundles or reported numbers under"):
        demo_store(tmp_path / "home")
    monkeypatch.delenv("SKIPBENCH_RESULTS_DIR")
    reset_settings_cache()
