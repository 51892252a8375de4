import math

import pytest
import torch

from methods.angular import Angular, AngularConfig, angular_distances
from methods.base import ApplyContext
from methods.layers import decoder_layers, num_decoder_layers
from methods.shortgpt import compute_block_influence
from skipbench.errors import InvalidInput
from tests.tiny import tiny_model


def _states(model, ids):
    """h_0 .. h_L for one sample: HF's hidden_states for the inputs of the layers, and the
    input of the final norm (the last layer's raw output) instead of the normed last entry."""
    raw_last = []
    handle = model.model.norm.register_forward_pre_hook(lambda m, a: raw_last.append(a[0]))
    try:
        with torch.no_grad():
            hs = model(ids, output_hidden_states=True).hidden_states
    finally:
        handle.remove()
    return [h[0] for h in hs[:-1]] + [raw_last[0][0]]


def _reference(model, calib, n, position):
    """Plain loop: per start l, the mean over samples (or all tokens) of arccos(cos)/pi."""
    total = num_decoder_layers(model)
    per_start = [[] for _ in range(total - n + 1)]
    for s in range(len(calib)):
        h = _states(model, calib[s : s + 1])
        for start in range(total - n + 1):
            a, b = h[start], h[start + n]
            if position == "last":
                a, b = a[-1:], b[-1:]
            for t in range(a.shape[0]):
                cos = (a[t] @ b[t]) / (a[t].norm() * b[t].norm())
                per_start[start].append(math.acos(max(-1.0, min(1.0, float(cos)))) / math.pi)
    return [sum(v) / len(v) for v in per_start]


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "gemma3_text"])
@pytest.mark.parametrize("position", ["last", "all"])
@pytest.mark.parametrize("n", [1, 3])
def test_distances_match_a_plain_loop(model_type, position, n):
    model = tiny_model(model_type, num_layers=5)
    calib = torch.randint(3, 90, (3, 12))
    got = angular_distances(model, calib, n, position)
    want = _reference(model, calib, n, position)
    assert len(got) == 5 - n + 1
    assert got == pytest.approx(want, abs=1e-6)


def _identity_layers(model, indices):
    for i in indices:
        layer = decoder_layers(model)[i]
        layer.self_attn.o_proj.weight.data.zero_()
        layer.mlp.down_proj.weight.data.zero_()


def test_removes_the_contiguous_window_with_the_smallest_distance():
    model = tiny_model("llama", num_layers=7)
    _identity_layers(model, [3, 4])  # h_3 == h_5: distance 0 for the window 3..4
    calib = torch.randint(3, 90, (2, 12))
    outcome = Angular(AngularConfig(num_layers=2)).apply(model, ApplyContext(calibration=calib))
    d = outcome.details
    assert d["removed_layers"] == [3, 4]
    assert d["window"] == {"start": 3, "end": 4}
    assert len(d["distances"]) == 6 and d["distances"][3] == pytest.approx(0.0, abs=1e-6)
    assert d["position"] == "last"
    assert d["sparsity"]["realized"] == pytest.approx(2 / 7)
    assert num_decoder_layers(outcome.model) == 5


def test_window_is_the_argmin_of_the_reference_distances():
    model = tiny_model("qwen2", num_layers=8)
    calib = torch.randint(3, 90, (3, 10))
    want = _reference(model, calib, 3, "all")
    start = min(range(len(want)), key=lambda s: want[s])
    config = AngularConfig(num_layers=3, position="all")
    outcome = Angular(config).apply(model, ApplyContext(calibration=calib))
    assert outcome.details["removed_layers"] == [start, start + 1, start + 2]


def test_n1_position_all_ranks_like_shortgpt_block_influence():
    """On one token, d = arccos(1 - BI) / pi: a decreasing map of cos, like BI, so the ranks
    agree exactly. (Over many tokens the means need not: mean arccos is not arccos of the mean.)
    """
    model = tiny_model("llama", num_layers=10)
    for token in (5, 17, 42, 80):
        calib = torch.tensor([[token]])
        d = angular_distances(model, calib, 1, "all")[:10]
        bi = compute_block_influence(model, calib)
        assert sorted(range(10), key=lambda i: d[i]) == sorted(range(10), key=lambda i: bi[i])
        for di, bii in zip(d, bi):
            assert di == pytest.approx(math.acos(max(-1.0, min(1.0, 1 - bii))) / math.pi, abs=1e-5)


def test_no_removal_needs_no_calibration():
    model = tiny_model("llama", num_layers=4)
    outcome = Angular(AngularConfig(num_layers=0)).apply(model, ApplyContext())
    assert outcome.details["removed_layers"] == [] and outcome.details["window"] is None


def test_bad_parameters_are_refused_in_one_line():
    with pytest.raises(InvalidInput, match=r"^position='middle'; allowed: last, all$"):
        AngularConfig.from_params({"position": "middle"})
    with pytest.raises(InvalidInput, match="must be smaller than the model's 4"):
        Angular(AngularConfig(num_layers=4)).validate_for(4)
    with pytest.raises(InvalidInput, match="needs calibration"):
        Angular(AngularConfig(num_layers=1)).apply(tiny_model("llama", 4), ApplyContext())
