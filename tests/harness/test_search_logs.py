"""Search logs on disk: written whole, read back only when they are this search's, and reused by
a second run of the same model and calibration (the runner's path, on a tiny model)."""

import json
import logging

import pytest
import torch

from harness.models import ModelSpec
from harness.runner import RunSpec, SuiteSpec, execute
from harness.search_logs import FileRoundLog, round_logs_for
from skipbench.settings import get_settings, reset_settings_cache
from tests.tiny import tiny_model


def test_file_log_round_trip_keeps_the_longer_agreeing_log(tmp_path):
    log = FileRoundLog(tmp_path / "s.json", "k1", {"search": "sleb"})
    assert log.load() == []
    log.save([(3, 1.25), (5, 1.5)])
    log.save([(3, 1.25)])  # a process that got less far
    assert log.load() == [(3, 1.25), (5, 1.5)]
    log.save([(4, 1.0)])  # another way: the new log replaces it
    assert log.load() == [(4, 1.0)]
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temporary file left


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"format": "other", "version": 1, "key": "k1", "rounds": []}),
        json.dumps({"format": "skipbench-search-log", "version": 1, "key": "k2", "rounds": []}),
        json.dumps(
            {"format": "skipbench-search-log", "version": 1, "key": "k1", "rounds": [[3, "x"]]}
        ),
    ],
    ids=["corrupt", "foreign", "other-key", "bad-round"],
)
def test_an_unreadable_log_is_ignored_with_a_warning(tmp_path, caplog, content):
    path = tmp_path / "s.json"
    path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="harness.search_logs"):
        assert FileRoundLog(path, "k1", {}).load() == []
    assert f"ignoring search log {path}" in caplog.text


def test_the_key_follows_weights_calibration_and_identity():
    model = tiny_model("llama", 4)
    ids = torch.randint(3, 90, (2, 16), generator=torch.Generator().manual_seed(0))
    info = {"hash": "a" * 64}
    make = round_logs_for(model, info, ids)
    base = make("sleb", {"skip_first": 1}).key
    assert make("sleb", {"skip_first": 1}).key == base
    assert make("sleb", {"skip_first": 2}).key != base
    assert make("blockpruner", {"skip_first": 1}).key != base
    other_ids = ids.clone()
    other_ids[0, 0] += 1
    assert round_logs_for(model, info, other_ids)("sleb", {"skip_first": 1}).key != base
    assert round_logs_for(model, {"hash": "b" * 64}, ids)("sleb", {"skip_first": 1}).key != base
    assert round_logs_for(model, {**info, "random_weights": True}, ids) is None
    assert round_logs_for(model, info, None) is None


def _sleb(tiny_model_dir, sparsity):
    return RunSpec(
        model=ModelSpec(source=str(tiny_model_dir), device="cpu"),
        method="sleb",
        method_params={"sparsity": sparsity, "calib_samples": 4, "calib_seq_len": 32},
        suites=(SuiteSpec("perplexity", {"tasks": ["wikitext2"], "limit": 1, "seq_len": 32}),),
    )


def _removed(record):
    return record["method"]["details"]["removed_layers"]


def test_a_second_run_replays_the_first_runs_rounds(tiny_model_dir, shared_data_dir, monkeypatch):
    small = execute(_sleb(tiny_model_dir, 0.25))  # 1 of 4 layers
    search = small["method"]["details"]["search_log"]
    assert (search["rounds"], search["rounds_reused"]) == (1, 0)
    assert len(list(get_settings().search_logs_dir.glob("sleb-*.json"))) == 1

    large = execute(_sleb(tiny_model_dir, 0.5))  # 2 of 4: the first round is replayed
    assert large["method"]["details"]["search_log"] == {**search, "rounds": 2, "rounds_reused": 1}
    assert _removed(large)[:1] == _removed(small)

    monkeypatch.setenv("SKIPBENCH_SEARCH_LOGS", "false")
    reset_settings_cache()
    fresh = execute(_sleb(tiny_model_dir, 0.5))
    assert "search_log" not in fresh["method"]["details"]
    assert _removed(fresh) == _removed(large)
    losses = fresh["method"]["details"]["calibration_loss"]
    assert large["method"]["details"]["calibration_loss"] == losses
