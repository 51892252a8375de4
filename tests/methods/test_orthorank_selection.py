"""``smallest_in_order``: the sort-free selection of the fused kernel's compiled region."""

import pytest
import torch

from methods.orthorank.selection import SINK_KEY, smallest_in_order


@pytest.mark.parametrize(
    ("keys", "k", "expected"),
    [
        ([0.5, 0.1, 0.9, 0.1, 0.3], 3, [1, 3, 4]),  # worked by hand
        ([0.5, 0.1, 0.9, 0.1, 0.3], 1, [1]),  # a tie: the lower index first
        ([2.0, 1.0, 1.0, 1.0], 2, [1, 2]),  # three tied: the two lowest indices
        ([SINK_KEY, 0.2, 0.1], 2, [1, 2]),  # the sink scores above every token
        ([SINK_KEY, 0.2, 0.1], 3, [0, 1, 2]),  # k = T takes the sink too
    ],
)
def test_hand_worked(keys, k, expected):
    got = smallest_in_order(torch.tensor([keys]), k)
    assert got.tolist() == [expected]


@pytest.mark.parametrize(
    ("bsz", "tokens", "k"), [(1, 1, 1), (3, 50, 17), (2, 64, 64), (4, 300, 99)]
)
def test_matches_topk_then_sort(bsz, tokens, k):
    """Without ties: the reference's ``topk`` + ``sort``; with ties: a stable argsort."""
    gen = torch.Generator().manual_seed(tokens)
    key = torch.rand(bsz, tokens, generator=gen)
    ref = key.topk(k, dim=1, largest=False, sorted=False).indices.sort(dim=1).values
    assert torch.equal(smallest_in_order(key, k), ref)
    tied = torch.round(key * 4) / 4
    stable = tied.argsort(dim=1, stable=True)[:, :k].sort(dim=1).values
    got = smallest_in_order(tied, k)
    assert torch.equal(got, stable)
    assert bool((got[:, 1:] > got[:, :-1]).all())  # strictly ascending: k distinct tokens
