import copy

import pytest
import torch

from methods.base import ApplyContext
from methods.baselines import (
    RandomBlocks,
    RandomConfig,
    ReverseOrder,
    ReverseOrderConfig,
    random_layers,
)
from methods.layers import decoder_layers
from skipbench.errors import InvalidInput
from tests.tiny import tiny_model


@pytest.mark.parametrize(("total", "n"), [(8, 1), (8, 3), (8, 7), (30, 6), (30, 9)])
def test_reverse_order_removes_exactly_the_blocks_before_the_last(total, n):
    model = tiny_model("llama", num_layers=total)
    outcome = ReverseOrder(ReverseOrderConfig(num_layers=n)).apply(model, ApplyContext())
    assert outcome.details["removed_layers"] == [total - 1 - n + k for k in range(n)]
    assert outcome.details["kept_layers"] == [*range(total - 1 - n), total - 1]


def test_reverse_order_equals_deleting_those_blocks_by_hand():
    model = tiny_model("qwen2", num_layers=6)
    by_hand = copy.deepcopy(model)
    layers = decoder_layers(by_hand)
    by_hand.model.layers = torch.nn.ModuleList([layers[i] for i in (0, 1, 2, 5)])
    by_hand.config.num_hidden_layers = 4
    for new, layer in enumerate(by_hand.model.layers):
        layer.self_attn.layer_idx = new
    outcome = ReverseOrder(ReverseOrderConfig(sparsity=0.3)).apply(model, ApplyContext())
    assert outcome.details["removed_layers"] == [3, 4]
    ids = torch.randint(3, 90, (1, 9))
    with torch.no_grad():
        assert torch.allclose(outcome.model(ids).logits, by_hand(ids).logits, atol=1e-6)


def test_random_is_reproducible_and_never_removes_the_first_or_last():
    seen = set()
    for seed in range(200):
        chosen = random_layers(12, 4, seed)
        assert chosen == random_layers(12, 4, seed)
        assert len(set(chosen)) == 4 and all(1 <= i <= 10 for i in chosen)
        seen.update(chosen)
    assert seen == set(range(1, 11))  # every inner block can be drawn
    assert len({tuple(random_layers(12, 4, s)) for s in range(20)}) > 15
    assert sorted(random_layers(12, 10, 3)) == list(range(1, 11))


def test_random_draw_is_pinned():
    """Python's ``random.Random(seed).sample`` is stable across versions; this pins it."""
    assert random_layers(30, 6, 0) == [28, 13, 25, 14, 2, 9]


def test_random_method_reports_its_draw():
    model = tiny_model("llama", num_layers=8)
    outcome = RandomBlocks(RandomConfig(num_layers=3, seed=7)).apply(model, ApplyContext())
    d = outcome.details
    assert d["removed_layers"] == random_layers(8, 3, 7)
    assert d["seed"] == 7 and d["protected_layers"] == [0, 7]
    assert d["sparsity"] == {
        "nominal": pytest.approx(3 / 8),
        "realized": pytest.approx(3 / 8),
        "param_fraction_removed": d["sparsity"]["param_fraction_removed"],
    }


def test_bad_parameters_are_refused_in_one_line():
    with pytest.raises(InvalidInput, match=r"^random: num_layers=7 is more than the 6 blocks"):
        RandomBlocks(RandomConfig(num_layers=7)).validate_for(8)
    with pytest.raises(InvalidInput, match=r"seed=-1 must be an integer >= 0"):
        RandomConfig.from_params({"seed": "-1"})
    with pytest.raises(InvalidInput, match="must be smaller than the model's 8"):
        ReverseOrder(ReverseOrderConfig(num_layers=8)).validate_for(8)
    with pytest.raises(InvalidInput, match="sparsity=1.5"):
        ReverseOrderConfig.from_params({"sparsity": "1.5"})
