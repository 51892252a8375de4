import math

import pytest
import torch

from methods.base import ApplyContext
from methods.layers import decoder_layers, num_decoder_layers
from methods.shortgpt import ShortGPT, ShortGPTConfig, block_influence, compute_block_influence
from skipbench.errors import InvalidInput
from tests.tiny import tiny_model


def test_block_influence_hand_made_tensors():
    x_in = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]]])
    x_out = torch.tensor([[[2.0, 0.0], [1.0, 0.0], [-3.0, -4.0]]])
    # cosines: 1 (same direction), 0 (orthogonal), -1 (opposite) -> sum 0 over 3 tokens
    total, count = block_influence(x_in, x_out)
    assert count == 3
    assert total == pytest.approx(0.0, abs=1e-7)
    total, count = block_influence(x_in[:, :1], x_out[:, :1])
    assert (total, count) == (pytest.approx(1.0), 1)


def _identity_layers(model, indices):
    """Zero the output projections: the layer then adds nothing to the residual (BI = 0)."""
    for i in indices:
        layer = decoder_layers(model)[i]
        layer.self_attn.o_proj.weight.data.zero_()
        layer.mlp.down_proj.weight.data.zero_()


def test_bi_matches_hidden_states_reference():
    model = tiny_model("llama", num_layers=5)
    calib = torch.randint(3, 90, (3, 16))
    bi = compute_block_influence(model, calib)
    # independent: output_hidden_states gives the input of every layer (the last entry is after norm)
    with torch.no_grad():
        hs = model(calib, output_hidden_states=True).hidden_states
    for i in range(4):
        cos = torch.nn.functional.cosine_similarity(
            hs[i].flatten(0, 1), hs[i + 1].flatten(0, 1), dim=-1
        )
        assert bi[i] == pytest.approx(1 - cos.mean().item(), abs=1e-5)


def test_shortgpt_removes_exactly_the_lowest_bi_layers():
    model = tiny_model("llama", num_layers=6)
    _identity_layers(model, [1, 4])
    calib = torch.randint(3, 90, (2, 16))
    method = ShortGPT(ShortGPTConfig(num_layers=2, calib_samples=2, calib_seq_len=16))
    outcome = method.apply(model, ApplyContext(calibration=calib))
    assert sorted(outcome.details["removed_layers"]) == [1, 4]
    assert outcome.details["block_influence"][1] == pytest.approx(0.0, abs=1e-6)
    assert outcome.details["sparsity"]["realized"] == pytest.approx(2 / 6)
    assert num_decoder_layers(outcome.model) == 4
    with torch.no_grad():
        logits = outcome.model(torch.randint(3, 90, (1, 10))).logits
    assert torch.isfinite(logits).all()


def test_shortgpt_removal_order_is_ascending_bi():
    model = tiny_model("qwen2", num_layers=8)
    calib = torch.randint(3, 90, (2, 16))
    bi = compute_block_influence(model, calib)
    outcome = ShortGPT(ShortGPTConfig(sparsity=0.25)).apply(model, ApplyContext(calibration=calib))
    n = math.ceil(0.25 * 8)
    expected = sorted(range(8), key=lambda i: (bi[i], i))[:n]
    assert outcome.details["removed_layers"] == expected


def test_shortgpt_validates():
    with pytest.raises(InvalidInput, match="calib_samples=0"):
        ShortGPTConfig(calib_samples=0)
    with pytest.raises(InvalidInput, match="must be smaller than the model's 4"):
        ShortGPT(ShortGPTConfig(num_layers=4)).validate_for(4)
