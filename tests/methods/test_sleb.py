"""SLEB against a brute-force search written here: a full forward per candidate, candidate deleted."""

import copy

import pytest
import torch
import torch.nn as nn

from methods.base import ApplyContext
from methods.layers import decoder_layers
from methods.sleb import SLEB, SLEBConfig, sleb_search
from skipbench.errors import InvalidInput
from tests.tiny import tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(model_type: str, num_layers: int, seed: int = 0):
    """Tiny model with a large init so blocks differ clearly (no near-ties in the search)."""
    overrides = {"initializer_range": 0.15}
    if model_type == "gemma3_text":
        # mixed layer types (different masks and rotary per layer) and logit soft-capping
        overrides["layer_types"] = ["sliding_attention", "full_attention"] * (num_layers // 2)
        overrides["final_logit_softcapping"] = 30.0
    return tiny_model(model_type, num_layers, seed=seed, **overrides)


def _delete(model, drop):
    """Independent deletion: rebuild the layer list and the config fields the forward reads."""
    model = copy.deepcopy(model)
    total = len(model.model.layers)
    keep = [i for i in range(total) if i not in set(drop)]
    model.model.layers = nn.ModuleList([model.model.layers[i] for i in keep])
    for new_idx, layer in enumerate(model.model.layers):
        layer.self_attn.layer_idx = new_idx
    model.config.num_hidden_layers = len(keep)
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = [model.config.layer_types[i] for i in keep]
    return model


def _mean_nll(model, ids):
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).double(), ids[:, 1:].reshape(-1)
    ).item()


def _brute_force(model, ids, n, skip_first=1, skip_last=1, replace=None):
    """Plain greedy loop; ``replace(idx, layer)`` builds a stand-in instead of deleting."""
    chosen, losses = [], []
    total = len(model.model.layers)
    for _ in range(n):
        alive = [i for i in range(total) if i not in chosen]
        trials = []
        for cand in alive[skip_first : len(alive) - skip_last]:
            if replace is None:
                trial_model = _delete(model, chosen + [cand])
            else:
                trial_model = copy.deepcopy(model)
                for i in chosen + [cand]:
                    trial_model.model.layers[i] = replace(i, trial_model.model.layers[i])
            trials.append((_mean_nll(trial_model, ids), cand))
        loss, best = min(trials)
        chosen.append(best)
        losses.append(loss)
    return chosen, losses


@pytest.mark.parametrize(
    ("model_type", "skip_first", "skip_last", "n"),
    [
        ("llama", 1, 1, 4),
        ("qwen2", 1, 1, 4),
        ("gemma3_text", 1, 1, 4),
        ("llama", 0, 0, 4),
        ("qwen2", 2, 3, 3),  # every layer after the first two that is not among the last three
    ],
)
def test_fast_search_equals_brute_force(model_type, skip_first, skip_last, n):
    model = _model(model_type, 8, seed=3)
    ids = torch.randint(3, 96, (5, 40), generator=torch.Generator().manual_seed(1))
    expected, expected_losses = _brute_force(model, ids, n, skip_first, skip_last)
    found = sleb_search(model, ids, n, skip_first=skip_first, skip_last=skip_last, batch_size=2)
    assert found.order == expected
    assert found.losses == pytest.approx(expected_losses, abs=1e-5)


def test_trial_operation_equals_brute_force_with_stand_ins():
    """A custom trial (half of the block's update) replaces chosen blocks in later rounds too."""

    def trial(idx, layer, hidden_states, **kwargs):
        return hidden_states + 0.5 * (layer(hidden_states, **kwargs) - hidden_states)

    class Half(nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, hidden_states, **kwargs):
            return hidden_states + 0.5 * (self.layer(hidden_states, **kwargs) - hidden_states)

    model = _model("llama", 7, seed=5)
    ids = torch.randint(3, 96, (3, 32), generator=torch.Generator().manual_seed(2))
    expected, losses = _brute_force(model, ids, 3, replace=lambda i, layer: Half(layer))
    found = sleb_search(model, ids, 3, trial=trial)
    assert found.order == expected
    assert found.losses == pytest.approx(losses, abs=1e-5)


def test_search_leaves_model_unchanged_and_batching_does_not_matter():
    model = _model("qwen2", 6, seed=7)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    layer_objects = list(decoder_layers(model))
    ids = torch.randint(3, 96, (5, 24), generator=torch.Generator().manual_seed(3))
    seen = []
    one = sleb_search(model, ids, 3, batch_size=1, progress=lambda w, f: seen.append(f))
    three = sleb_search(model, ids, 3, batch_size=3)
    assert one.order == three.order
    assert one.losses == pytest.approx(three.losses, abs=1e-6)
    assert list(decoder_layers(model)) == layer_objects
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert len(decoder_layers(model)) == 6 and model.config.num_hidden_layers == 6
    assert seen[-1] == pytest.approx(1.0) and seen == sorted(seen)


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_removing_sleb_layers_equals_deleting_them(model_type):
    model = _model(model_type, 8, seed=11)
    reference = copy.deepcopy(model)
    calib = torch.randint(3, 96, (4, 32), generator=torch.Generator().manual_seed(4))
    outcome = SLEB(SLEBConfig(num_layers=3)).apply(model, ApplyContext(calibration=calib))
    removed = outcome.details["removed_layers"]
    assert len(removed) == 3
    assert outcome.details["kept_layers"] == [i for i in range(8) if i not in removed]
    deleted = _delete(reference, removed)
    ids = torch.randint(3, 96, (2, 20), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        got = outcome.model(input_ids=ids).logits
        want = deleted(input_ids=ids).logits
    assert (got - want).abs().max().item() < 1e-5
    # the last round's calibration loss is the pruned model's calibration NLL
    assert outcome.details["calibration_loss"][-1] == pytest.approx(
        _mean_nll(deleted, calib), abs=1e-5
    )


def test_layer_count_follows_ceil_of_sparsity():
    assert SLEBConfig(sparsity=0.1).layers_to_skip(32) == 4
    assert SLEBConfig(sparsity=0.2).layers_to_skip(32) == 7
    assert SLEBConfig(sparsity=0.2, num_layers=2).layers_to_skip(32) == 2
    model = tiny_model("llama", 32)
    calib = torch.randint(3, 96, (2, 8), generator=torch.Generator().manual_seed(6))
    outcome = SLEB(SLEBConfig(sparsity=0.1)).apply(model, ApplyContext(calibration=calib))
    details = outcome.details
    assert len(details["removed_layers"]) == 4 and len(details["calibration_loss"]) == 4
    assert len(decoder_layers(outcome.model)) == 28 and outcome.model.config.num_hidden_layers == 28
    assert details["sparsity"]["nominal"] == 0.1
    assert details["sparsity"]["realized"] == pytest.approx(4 / 32)
    assert (
        0 < details["sparsity"]["param_fraction_removed"] < 4 / 32
    )  # embeddings are never removed


def test_candidate_bounds():
    """With n = all candidates the choice is forced, whatever the weights: only the bounds decide."""
    ids = torch.randint(3, 96, (2, 16), generator=torch.Generator().manual_seed(7))
    model = _model("llama", 8, seed=13)
    assert sorted(sleb_search(model, ids, 6).order) == [1, 2, 3, 4, 5, 6]
    assert sorted(sleb_search(model, ids, 3, skip_first=3, skip_last=2).order) == [3, 4, 5]
    assert sorted(sleb_search(model, ids, 7, skip_first=0, skip_last=1).order) == list(range(7))
    assert sorted(sleb_search(model, ids, 7, skip_first=1, skip_last=0).order) == list(range(1, 8))
    for skip_first, skip_last in [(1, 1), (2, 3), (0, 4)]:
        order = sleb_search(model, ids, 2, skip_first=skip_first, skip_last=skip_last).order
        assert all(skip_first <= i < 8 - skip_last for i in order)
    with pytest.raises(InvalidInput, match="at most 3 are candidates"):
        sleb_search(model, ids, 4, skip_first=3, skip_last=2)
    with pytest.raises(InvalidInput, match="at most 3 are candidates"):
        SLEB(SLEBConfig(num_layers=4, skip_first=3, skip_last=2)).validate_for(8)


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"skip_first": "-1"}, "skip_first=-1"),
        ({"skip_last": "x"}, "skip_last='x'"),
        ({"sparsity": "1.5"}, "sparsity=1.5"),
        ({"calib_samples": "0"}, "calib_samples=0"),
        ({"calib_seq_len": "1"}, "calib_seq_len=1"),
        ({"num_layers": "-2"}, "num_layers=-2"),
        ({"layers": "3"}, "unknown parameter(s) layers"),
    ],
)
def test_bad_params_rejected_in_one_line(params, needle):
    with pytest.raises(InvalidInput) as info:
        SLEBConfig.from_params(params)
    message = str(info.value)
    assert needle in message and "\n" not in message


def test_too_many_layers_and_missing_calibration():
    with pytest.raises(InvalidInput, match="smaller than the model's 8"):
        SLEB(SLEBConfig(num_layers=8)).validate_for(8)
    with pytest.raises(InvalidInput, match="needs calibration"):
        SLEB(SLEBConfig(num_layers=1)).apply(tiny_model("llama", 4), ApplyContext())
