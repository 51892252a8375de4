"""BlockPruner: the carried-state search against a brute-force loop, details, bad input."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from methods.base import ApplyContext
from methods.blockpruner import BlockPruner, BlockPrunerConfig, block_search
from methods.layers import decoder_layers
from skipbench.errors import InvalidInput
from tests.methods.test_sublayers import zeroed
from tests.tiny import tiny_model

ARCHS = ["llama", "qwen2", "gemma3_text"]


def brute_force(model, calib, n, kinds=("attn", "mlp")):
    """Plain loop: every round, every remaining block zeroed on a fresh copy, full forwards."""
    L = len(decoder_layers(model))
    removed, losses = [], []
    for _ in range(n):
        best = None
        for kind in kinds:  # the official candidate order: attention blocks, then MLP blocks
            for i in range(L):
                name = f"{kind}.{i}"
                if name in removed:
                    continue
                trial = zeroed(model, removed + [name])
                with torch.no_grad():
                    logits = trial(calib).logits
                nll = F.cross_entropy(
                    logits[:, :-1].reshape(-1, logits.shape[-1]), calib[:, 1:].reshape(-1)
                ).item()
                if best is None or nll < best[0] - 1e-9:
                    best = (nll, name)
        removed.append(best[1])
        losses.append(best[0])
    return removed, losses


@pytest.mark.parametrize("arch", ARCHS)
def test_search_picks_what_the_brute_force_picks(arch):
    model = tiny_model(arch, num_layers=4)
    calib = torch.randint(3, 90, (3, 16))
    want_order, want_losses = brute_force(model, calib, 4)
    ids = torch.randint(3, 90, (1, 12))
    with torch.no_grad():
        dense = model(ids).logits
    order, losses, _ = block_search(model, calib, 4)
    assert order == want_order
    assert losses == pytest.approx(want_losses, abs=1e-5)
    with torch.no_grad():  # the model is restored
        assert torch.equal(model(ids).logits, dense)
    batched, _, _ = block_search(model, calib, 2, batch_size=2)
    assert batched == want_order[:2]


@pytest.mark.parametrize("block_type", ["attn", "mlp"])
def test_single_block_type_searches_only_that_kind(block_type):
    model = tiny_model("llama", num_layers=4)
    calib = torch.randint(3, 90, (2, 16))
    want, _ = brute_force(model, calib, 2, kinds=(block_type,))
    outcome = BlockPruner(BlockPrunerConfig(num_layers=2, block_type=block_type)).apply(
        model, ApplyContext(calibration=calib)
    )
    assert outcome.details["removed_sublayers"] == want
    assert outcome.details["sparsity"]["realized"] == pytest.approx(2 / 4)


def test_apply_removes_the_searched_blocks_and_reports_them():
    model = tiny_model("gemma3_text", num_layers=4)
    calib = torch.randint(3, 90, (2, 16))
    ref = copy.deepcopy(model)
    outcome = BlockPruner(BlockPrunerConfig(sparsity=0.3)).apply(
        model, ApplyContext(calibration=calib)
    )
    d = outcome.details
    n = math.ceil(0.3 * 8)
    assert len(d["removed_sublayers"]) == len(d["calibration_loss"]) == n
    assert d["calibration_ppl"][-1] == pytest.approx(math.exp(d["calibration_loss"][-1]), rel=1e-4)
    assert d["sparsity"]["realized"] == pytest.approx(n / 8)
    ids = torch.randint(3, 90, (1, 20))
    with torch.no_grad():
        got = outcome.model(ids).logits
        want = zeroed(ref, d["removed_sublayers"])(ids).logits
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)
    # the last round's loss is the calibration NLL of the pruned model
    with torch.no_grad():
        logits = outcome.model(calib).logits
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), calib[:, 1:].reshape(-1))
    assert d["calibration_loss"][-1] == pytest.approx(nll.item(), abs=1e-5)


def test_nothing_removed_is_dense_exactly():
    model = tiny_model("qwen2", num_layers=3)
    ids = torch.randint(3, 90, (1, 12))
    with torch.no_grad():
        dense = model(ids).logits
    outcome = BlockPruner(BlockPrunerConfig(num_layers=0)).apply(model, ApplyContext())
    with torch.no_grad():
        assert torch.equal(outcome.model(ids).logits, dense)


def test_bad_parameters_are_refused_in_one_line():
    for params, match in [
        ({"block_type": "mha"}, "block_type='mha' is not allowed; allowed: mix, attn, mlp"),
        ({"calib_unit": "tokens"}, "calib_unit='tokens' is not allowed"),
        ({"calib_dataset": "pg19"}, "calib_dataset=pg19 is cut per book"),
    ]:
        with pytest.raises(InvalidInput, match=match):
            BlockPrunerConfig.from_params(params).calibration_spec()
    with pytest.raises(InvalidInput, match="smaller than the model's 8 mix blocks"):
        BlockPruner(BlockPrunerConfig(num_layers=8)).validate_for(4)
    assert BlockPrunerConfig().calibration_spec().unit == "rows"
    assert BlockPrunerConfig().calibration_spec().num_samples == 64
