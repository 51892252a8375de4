import copy
import math

import pytest
import torch
import torch.nn.functional as F

from methods.base import ApplyContext
from methods.block_sensitivity import magnitude_scores, ppl_scores, taylor_scores
from methods.layers import decoder_layers, remove_layers
from methods.shortened_llama import ShortenedLlama, ShortenedLlamaConfig
from methods.sleb import sleb_search
from skipbench.errors import InvalidInput
from tests.tiny import tiny_model


def _weights(layer):
    return {k: v for k, v in layer.state_dict().items() if k.endswith("weight")}


def _loss(model, calib):
    """HF's own mean next-token loss over the whole batch (all samples at once)."""
    return model(calib, labels=calib).loss


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_ppl_scores_match_deleting_each_block_from_a_copy(model_type):
    model = tiny_model(model_type, num_layers=5)
    calib = torch.randint(3, 90, (3, 12))
    got = ppl_scores(model, calib)
    for i in range(5):
        pruned = remove_layers(copy.deepcopy(model), [i])
        with torch.no_grad():
            want = math.exp(float(_loss(pruned, calib)))
        assert got[i] == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("model_type", ["llama", "qwen2"])
def test_ppl_n1_removes_the_block_of_slebs_first_round(model_type):
    model = tiny_model(model_type, num_layers=7, seed=3)
    calib = torch.randint(3, 90, (4, 16))
    search = sleb_search(model, calib, 1, skip_first=0, skip_last=0)
    outcome = ShortenedLlama(ShortenedLlamaConfig(num_layers=1)).apply(
        copy.deepcopy(model), ApplyContext(calibration=calib)
    )
    (chosen,) = outcome.details["removed_layers"]
    assert chosen == search.order[0]
    assert math.log(outcome.details["scores"][chosen]) == pytest.approx(search.losses[0], rel=1e-5)


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "gemma3_text"])
def test_taylor_matches_one_full_backward_over_the_batch(model_type):
    """The official recipe: all samples in one batch, one backward, every weight's gradient."""
    model = tiny_model(model_type, num_layers=4)
    calib = torch.randint(3, 90, (3, 10))
    got = taylor_scores(model, calib)
    reference = copy.deepcopy(model)
    _loss(reference, calib).backward()
    for i, layer in enumerate(decoder_layers(reference)):
        want = sum(
            float((p.detach() * p.grad).abs().sum())
            for name, p in layer.named_parameters()
            if name.endswith("weight")
        )
        assert got[i] == pytest.approx(want, rel=1e-4)
    assert all(p.grad is None and p.requires_grad for p in model.parameters())


def _exact_norm(module):
    def forward(x):
        scale = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + module.variance_epsilon)
        return module.weight * (x * scale)

    module.forward = forward


def test_taylor_matches_a_finite_difference_estimate():
    """Per block, sum over every weight entry j of |w_j dL/dw_j|, each term from a central
    difference of the loss along w_j (step eps * w_j, float64); also with p = 2."""
    model = tiny_model(
        "llama",
        num_layers=2,
        hidden_size=8,
        intermediate_size=8,
        num_attention_heads=2,
        num_key_value_heads=1,
    ).double()
    # float64 throughout: SDPA instead of eager (its softmax runs in float32) and RMSNorms
    # without their float32 round trip, so the loss is smooth enough to difference
    model.set_attn_implementation("sdpa")
    for module in model.modules():
        if type(module).__name__.endswith("RMSNorm"):
            _exact_norm(module)
    calib = torch.randint(3, 90, (2, 6))
    got = taylor_scores(model, calib, norm_power=1)
    power2 = taylor_scores(model, calib, norm_power=2)
    eps = 1e-4

    def loss():  # in float64 (HF's own loss goes through float32)
        with torch.no_grad():
            logits = model(calib).logits[:, :-1].double()
            return float(F.cross_entropy(logits.flatten(0, 1), calib[:, 1:].flatten()))

    per_block = []
    for layer in decoder_layers(model):
        total, total_sq = 0.0, 0.0
        for name, p in layer.named_parameters():
            if not name.endswith("weight"):
                continue
            flat = p.data.view(-1)
            for j in range(flat.numel()):
                w = float(flat[j])
                flat[j] = w * (1 + eps)
                up = loss()
                flat[j] = w * (1 - eps)
                down = loss()
                flat[j] = w
                term = abs((up - down) / (2 * eps))  # ~ |w_j * dL/dw_j|
                total += term
                total_sq += term * term
        per_block.append((total, total_sq))
    for i, (total, total_sq) in enumerate(per_block):
        assert got[i] == pytest.approx(total, rel=1e-5)
        assert power2[i] == pytest.approx(total_sq, rel=1e-5)


@pytest.mark.parametrize("power", [1, 2])
def test_magnitude_matches_the_state_dict(power):
    model = tiny_model("qwen2", num_layers=3)
    got = magnitude_scores(model, power)
    for i, layer in enumerate(decoder_layers(model)):
        want = sum(float((v.abs() ** power).sum()) for v in _weights(layer).values())
        assert got[i] == pytest.approx(want, rel=1e-6)
    assert "self_attn.q_proj.bias" in decoder_layers(model)[0].state_dict()  # not counted


@pytest.mark.parametrize("criterion", ["ppl", "taylor", "magnitude"])
def test_removes_the_lowest_scores_among_unprotected_blocks(criterion):
    model = tiny_model("llama", num_layers=10)
    calib = torch.randint(3, 90, (2, 8))
    config = ShortenedLlamaConfig(num_layers=3, criterion=criterion, protect="first4last2")
    outcome = ShortenedLlama(config).apply(model, ApplyContext(calibration=calib))
    d = outcome.details
    assert d["protected_layers"] == [0, 1, 2, 3, 8, 9]
    assert d["criterion"] == criterion and len(d["scores"]) == 10
    expected = sorted(range(4, 8), key=lambda i: (d["scores"][i], i))[:3]
    assert d["removed_layers"] == expected
    assert len(decoder_layers(outcome.model)) == 7


def test_unprotected_may_remove_any_block_and_magnitude_reads_no_data():
    model = tiny_model("llama", num_layers=6)
    for layer in decoder_layers(model)[5:]:
        for p in layer.parameters():
            p.data.mul_(1e-3)  # the last block is by far the smallest
    config = ShortenedLlamaConfig(num_layers=1, criterion="magnitude")
    method = ShortenedLlama(config)
    assert method.calibration_spec() is None
    assert method.apply(model, ApplyContext()).details["removed_layers"] == [5]
    assert ShortenedLlama(ShortenedLlamaConfig()).calibration_spec().num_samples == 10


def test_bad_parameters_are_refused_in_one_line():
    with pytest.raises(
        InvalidInput, match=r"^criterion='fisher'; allowed: ppl, taylor, magnitude$"
    ):
        ShortenedLlamaConfig.from_params({"criterion": "fisher"})
    with pytest.raises(InvalidInput, match=r"^protect='ends'; allowed: none, first4last2$"):
        ShortenedLlamaConfig.from_params({"protect": "ends"})
    with pytest.raises(InvalidInput, match=r"^norm_power=3; allowed: 1, 2$"):
        ShortenedLlamaConfig.from_params({"norm_power": "3"})
    with pytest.raises(InvalidInput, match="more than the 4 blocks of a 10-layer model"):
        ShortenedLlama(ShortenedLlamaConfig(num_layers=5, protect="first4last2")).validate_for(10)
    with pytest.raises(InvalidInput, match="needs calibration data"):
        ShortenedLlama(ShortenedLlamaConfig(num_layers=1)).apply(
            tiny_model("llama", 4), ApplyContext()
        )
