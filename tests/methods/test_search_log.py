"""Greedy searches replay the rounds a RoundLog holds: same picks and losses as a fresh search,
with only the missing rounds computed (counted at the LM head, which every trial forward reaches)."""

import pytest
import torch

from methods.blockpruner import block_search
from methods.search_log import RoundLog, logged_pick, longest_agreeing
from methods.sleb import sleb_search
from tests.tiny import tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def model():
    return tiny_model("llama", 8, seed=3, initializer_range=0.15)


@pytest.fixture
def calib():
    return torch.randint(3, 90, (2, 16), generator=torch.Generator().manual_seed(0))


def _count_head_calls(model):
    calls = []
    model.lm_head.register_forward_pre_hook(lambda *_: calls.append(1))
    return calls


def test_sleb_search_extends_a_shorter_log_to_the_fresh_answer(model, calib):
    fresh = sleb_search(model, calib, 4)
    log = RoundLog()
    first = sleb_search(model, calib, 2, log=log)
    assert first.order == fresh.order[:2] and first.reused == 0
    assert [pick for pick, _ in log.load()] == fresh.order[:2]

    calls = _count_head_calls(model)
    longer = sleb_search(model, calib, 4, log=log)
    assert (longer.order, longer.losses, longer.reused) == (fresh.order, fresh.losses, 2)
    # rounds 3 and 4 of 8 layers with skip 1/1: 4 then 3 candidates, per calibration row
    assert len(calls) == (4 + 3) * len(calib)

    calls.clear()
    shorter = sleb_search(model, calib, 3, log=log)
    assert (shorter.order, shorter.reused, len(calls)) == (fresh.order[:3], 3, 0)
    assert len(log.load()) == 4  # a shorter search keeps the longer log


def test_a_logged_pick_that_is_not_a_candidate_ends_the_replay(model, calib):
    fresh = sleb_search(model, calib, 3)
    log = RoundLog()
    log.save([(0, 0.5)])  # layer 0 is never a candidate with skip_first=1
    again = sleb_search(model, calib, 3, log=log)
    assert (again.order, again.losses, again.reused) == (fresh.order, fresh.losses, 0)
    assert [pick for pick, _ in log.load()] == fresh.order


def test_logged_pick_needs_the_same_picks_before_it():
    log = RoundLog()
    log.save([(4, 1.0), (2, 1.5)])
    assert logged_pick(log, [], [1, 2, 4]) == (4, 1.0)
    assert logged_pick(log, [(4, 1.0)], [1, 2]) == (2, 1.5)
    assert logged_pick(log, [(1, 1.0)], [2, 4]) is None  # the log went another way
    assert logged_pick(log, [(4, 1.0), (2, 1.5)], [1]) is None  # nothing logged beyond
    assert logged_pick(None, [], [1]) is None
    assert longest_agreeing([(4, 1.0), (2, 1.5)], [(4, 1.0)]) == [(4, 1.0), (2, 1.5)]
    assert longest_agreeing([(4, 1.0), (2, 1.5)], [(3, 1.0)]) == [(3, 1.0)]


def test_blockpruner_search_extends_a_shorter_log_to_the_fresh_answer(model, calib):
    fresh_order, fresh_losses, _ = block_search(model, calib, 3)
    log = RoundLog()
    assert block_search(model, calib, 1, log=log)[0] == fresh_order[:1]
    calls = _count_head_calls(model)
    order, losses, reused = block_search(model, calib, 3, log=log)
    assert (order, losses, reused) == (fresh_order, fresh_losses, 1)
    # rounds 2 and 3 over 16 sublayers: 15 then 14 trials, per calibration row
    assert len(calls) == (15 + 14) * len(calib)


class KeptLog(RoundLog):
    key = "kept-in-this-test"


def test_orthorank_replays_its_search_and_never_logs_a_random_score(calib):
    from methods.base import ApplyContext
    from methods.orthorank import OrthoRank, OrthoRankConfig

    asked: list[dict] = []
    log = KeptLog()

    def logs(search, identity):
        asked.append(identity)
        return log

    def run(**params):
        config = OrthoRankConfig.from_params({"sparsity": "0.2", "layers": "sleb", **params})
        ctx = ApplyContext(calibration=calib, round_logs=logs)
        return OrthoRank(config).apply(tiny_model("llama", 6, seed=2), ctx).details

    first, second = run(), run()
    assert second["selection_order"] == first["selection_order"]
    assert second["calibration_loss"] == first["calibration_loss"]
    assert first["search_log"] == {"key": log.key, "rounds": 2, "rounds_reused": 0}
    assert second["search_log"] == {"key": log.key, "rounds": 2, "rounds_reused": 2}
    assert asked[0]["trial"] == "orthorank-selective" and asked[0]["kernel"] == "reference"
    asked.clear()
    assert "search_log" not in run(score="random") and asked == []
