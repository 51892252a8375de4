"""Shortened LLaMA's three block-importance scores (Kim et al., 2024), one value per block.

- ``ppl_scores``: calibration perplexity of the model without that one block (L x N forwards);
- ``taylor_scores``: sum over the block's weight tensors of |w * dL/dw|^p, L the mean
  next-token loss over all calibration tokens (first-order Taylor estimate of the loss change);
- ``magnitude_scores``: sum over the block's weight tensors of |w|^p.

"Weight tensors" are the block's parameters whose name contains ``weight``: the linear
projections and the norms (biases are not counted), as in the official scripts. Lower is less
important for all three.
"""

from __future__ import annotations

import math
from typing import Any

from methods.base import ApplyContext
from methods.layers import decoder_layers


def block_weights(layer: Any) -> list[Any]:
    """The block's weight tensors, in ``named_parameters`` order."""
    return [p for name, p in layer.named_parameters() if "weight" in name.rsplit(".", 1)[-1]]


def magnitude_scores(model: Any, norm_power: int = 1) -> list[float]:
    return [
        sum(
            float(w.detach().float().abs().pow(norm_power).double().sum()) for w in block_weights(b)
        )
        for b in decoder_layers(model)
    ]


def _identity() -> Any:
    import torch.nn as nn

    class Removed(nn.Module):
        """Stands in for a removed block: passes the residual state through."""

        def forward(self, hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
            return hidden_states

    return Removed()


def mean_nll(model: Any, calibration: Any) -> float:
    """Mean next-token NLL (nats) over every predicted token of every sample, one at a time."""
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    total, count = 0.0, 0
    with torch.inference_mode():
        for s in range(len(calibration)):
            ids = calibration[s : s + 1].to(device)
            logits = model(input_ids=ids, use_cache=False).logits[:, :-1].float()
            nll = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten(), reduction="sum")
            total += float(nll.double())
            count += ids.shape[1] - 1
    return total / count


def ppl_scores(model: Any, calibration: Any, ctx: ApplyContext | None = None) -> list[float]:
    """Per block, exp(mean NLL) of the calibration samples with that block alone removed."""
    layers = decoder_layers(model)
    scores = []
    for i in range(len(layers)):
        original = layers[i]
        layers[i] = _identity()
        try:
            scores.append(math.exp(mean_nll(model, calibration)))
        finally:
            layers[i] = original
        if ctx:
            ctx.report("shortened-llama: ppl", (i + 1) / len(layers))
    return scores


def taylor_scores(
    model: Any, calibration: Any, norm_power: int = 1, ctx: ApplyContext | None = None
) -> list[float]:
    """Per block, sum over its weight tensors of |w * g|^p, g = d(mean calibration loss)/dw.

    Memory-bounded: one block's weights require gradients at a time, and samples go one at a
    time, each adding grad(loss_s) / N to the block's ``.grad`` (equal lengths make that the
    gradient of the mean over all tokens). So at most one block's gradients and one sample's
    activations from that block on are held; the price is one forward per sample per block
    (L x N forwards and backwards through the blocks after the scored one) instead of one.
    """
    import torch
    import torch.nn.functional as F

    layers = decoder_layers(model)
    flags = {id(p): p.requires_grad for p in model.parameters()}
    device = next(model.parameters()).device
    n_samples = len(calibration)
    scores = []
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        with torch.enable_grad():
            for i, layer in enumerate(layers):
                weights = block_weights(layer)
                for w in weights:
                    w.requires_grad_(True)
                    w.grad = None
                for s in range(n_samples):
                    ids = calibration[s : s + 1].to(device)
                    logits = model(input_ids=ids, use_cache=False).logits[:, :-1].float()
                    loss = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
                    (loss / n_samples).backward()
                    del logits, loss
                score = 0.0
                for w in weights:
                    salience = (w.detach() * w.grad).float().abs().pow(norm_power)
                    score += float(salience.double().sum())
                    w.grad = None
                    w.requires_grad_(False)
                scores.append(score)
                if ctx:
                    ctx.report("shortened-llama: taylor", (i + 1) / len(layers))
    finally:
        for p in model.parameters():
            p.requires_grad_(flags[id(p)])
            p.grad = None
    return scores
