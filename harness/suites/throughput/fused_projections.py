"""Graph-mode decode with the projections that share an input run as one GEMM: Q, K and V; gate
and up.

At batch 1 a Llama decode step is seven GEMVs per layer, and a GEMV of 4096 x 4096 is too small
to keep an H200 streaming: on 2026-12-01 the GEMMs of one Llama-2-7B step took 4.06 ms for
13.2 GB (3.25 TB/s, against 4.12 TB/s for one 2 GiB GEMV), cuBLAS splitting the small ones over K
with a reduction kernel of their own (``benchmarks/profile_decode.py``). Inductor does not merge
them (no common-subexpression pass over extern GEMMs; its freezing pass did not either), so the
copy made here does: the first projection of a group computes the concatenated GEMM and hands
the others their slices, which take them only when called with the same input tensor and
compute their own GEMM otherwise (OrthoRank's selective layers project Q from other rows than K
and V). Same weights, same formulas; the concatenated weights are extra memory (about 9 GB for
Llama-2-7B), shared by models that share parameters (dense and its methods in one comparison).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from harness.models import same_weights_copy
from harness.suites.throughput.compiled import is_method_kernel
from methods.layers import decoder_layers

GROUPS = (("self_attn", ("q_proj", "k_proj", "v_proj")), ("mlp", ("gate_proj", "up_proj")))


class LaterProjection(torch.nn.Module):
    """A projection whose output the group's first projection may already have computed."""

    def __init__(self, original: torch.nn.Linear) -> None:
        super().__init__()
        self.original = original
        self.handoff: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        got, self.handoff = self.handoff, None
        if got is not None and got[0] is x:
            return got[1]
        return self.original(x)


class FirstProjection(torch.nn.Module):
    """The group's first projection: one GEMM over the concatenated weights, sliced."""

    def __init__(
        self, weight: torch.Tensor, bias: torch.Tensor | None, sizes: list[int], later: list[Any]
    ) -> None:
        super().__init__()
        self.weight_cat, self.bias_cat = weight, bias
        bounds, start = [], 0
        for size in sizes:
            bounds.append((start, start + size))
            start += size
        self.bounds = bounds
        self.later = later  # a plain list: the later projections stay registered where they are

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.linear(x, self.weight_cat, self.bias_cat)
        for part, (start, end) in zip(self.later, self.bounds[1:], strict=True):
            part.handoff = (x, y[..., start:end])
        start, end = self.bounds[0]
        return y[..., start:end]


def weights_key(linears: list[Any]) -> tuple[int, ...]:
    """One group's identity across models that share weights."""
    return tuple(id(m.weight) for m in linears)


def _concatenated(linears: list[Any], shared: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
    key = weights_key(linears)
    if key not in shared:
        weight = torch.cat([m.weight.detach() for m in linears], dim=0)
        biases = [m.bias for m in linears]
        bias = None if biases[0] is None else torch.cat([b.detach() for b in biases], dim=0)
        shared[key] = (weight, bias)
    return shared[key]


def fusable(linears: list[Any]) -> bool:
    """Plain ``nn.Linear`` projections of one input size, all with or all without a bias."""
    return (
        all(type(m) is torch.nn.Linear for m in linears)
        and len({m.in_features for m in linears}) == 1
        and len({m.bias is None for m in linears}) == 1
        and len({(m.weight.dtype, m.weight.device) for m in linears}) == 1
    )


def fusable_groups(model: Any) -> Iterator[tuple[Any, tuple[str, ...], list[Any]]]:
    """(parent module, projection names, the projections) of every group ``fuse_projections``
    merges: decoder layers that run no method kernel, plain linears of one input size."""
    for layer in decoder_layers(model):
        if is_method_kernel(layer):
            continue
        for parent_name, names in GROUPS:
            parent = getattr(layer, parent_name, None)
            linears = [getattr(parent, n, None) for n in names]
            if parent is not None and fusable(linears):
                yield parent, names, linears


def fuse_projections(model: Any, shared: dict | None = None) -> tuple[Any, dict[str, int]]:
    """A weight-sharing copy of ``model`` with each layer's Q/K/V and gate/up as one GEMM;
    ``shared`` (id of the weights -> concatenation) lets several models reuse one copy.

    A layer that runs a method's own kernel (OrthoRank's selective layers) is left as it is,
    as in the ``compiled`` prefill mode: its projections take other inputs than the dense ones."""
    shared = {} if shared is None else shared
    copy = same_weights_copy(model)
    groups = 0
    for parent, names, linears in list(fusable_groups(copy)):
        weight, bias = _concatenated(linears, shared)
        later = [LaterProjection(m) for m in linears[1:]]
        sizes = [m.out_features for m in linears]
        setattr(parent, names[0], FirstProjection(weight, bias, sizes, later))
        for name, part in zip(names[1:], later, strict=True):
            setattr(parent, name, part)
        groups += 1
    return copy, {"fused_groups": groups}


def extra_bytes(shared: dict) -> int:
    return sum(w.numel() * w.element_size() for w, _ in shared.values())


def bytes_needed(models: list[Any]) -> int:
    """What ``fuse_projections`` of every model in ``models`` would allocate (weights shared
    between the models counted once), before allocating anything."""
    seen: set[tuple[int, ...]] = set()
    total = 0
    for model in models:
        for _, _, linears in fusable_groups(model):
            key = weights_key(linears)
            if key not in seen:
                seen.add(key)
                total += sum(p.numel() * p.element_size() for m in linears for p in m.parameters())
    return total


def fits(models: list[Any], device: Any, margin_bytes: int = 2 << 30) -> bool:
    """Whether the concatenated weights fit beside what is allocated (CUDA; with ``margin``
    left for the cache and activations): on a GPU that cannot hold them the graph mode runs
    the projections apart on every side, and its records say so."""
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return bytes_needed(models) + margin_bytes <= free
