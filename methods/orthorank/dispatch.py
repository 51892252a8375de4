"""Which kernel computes a selective layer: the only module that knows all three.

``make_selective`` replaces a decoder layer's forward by ``selective_forward``, which sends each
call to the kernel named in the layer's settings when that kernel covers the call, and on down
the chain otherwise: ``fused`` (two compiled regions, Llama-style layers) -> ``flex``
(FlexAttention, the prefill fast path; ``fused=True`` compiles its elementwise steps) ->
``reference`` (every input). All three compute the same function.
"""

from __future__ import annotations

import types
from typing import Any

import torch

from methods.orthorank.flex import flex_covers, flex_forward
from methods.orthorank.fused import fused_covers, fused_forward
from methods.orthorank.reference import reference_forward
from methods.orthorank.selection import Selective


def selective_forward(
    layer: Any, settings: Selective, hidden_states: torch.Tensor, **kwargs: Any
) -> torch.Tensor:
    """The token-selective forward of ``layer`` with ``settings.kernel`` where it applies."""
    kernel = settings.kernel
    if kernel in ("flex", "fused") and flex_covers(layer, settings, hidden_states, kwargs):
        if kernel == "fused" and fused_covers(layer, settings):
            return fused_forward(layer, settings, hidden_states, **kwargs)
        return flex_forward(layer, settings, hidden_states, fused=kernel == "fused", **kwargs)
    return reference_forward(layer, settings, hidden_states, **kwargs)


def make_selective(layer: Any, settings: Selective) -> Any:
    """Replace ``layer``'s forward (on the instance) by the selective one; returns ``layer``.

    The layer keeps its class, parameter names and output-recording hooks; ``make_dense`` undoes
    it. A bound method (not a closure) so that ``copy.deepcopy`` rebinds it to the copy.
    """
    layer.orthorank = settings
    selective = types.MethodType(_selective_method, layer)
    if _has_device_hook(layer):  # accelerate moves the inputs to the layer's device, then calls it
        layer._old_forward = selective
    else:
        layer.forward = selective
    return layer


def _has_device_hook(layer: Any) -> bool:
    """A layer of a model spread over devices by accelerate: its ``forward`` is the hook's."""
    return hasattr(layer, "_hf_hook") and hasattr(layer, "_old_forward")


def _selective_method(self: Any, hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
    if args:
        raise TypeError("orthorank: decoder layers take their arguments by keyword")
    return selective_forward(self, self.orthorank, hidden_states, **kwargs)


def make_dense(layer: Any) -> Any:
    if _has_device_hook(layer):
        layer._old_forward = types.MethodType(type(layer).forward, layer)
    elif "forward" in layer.__dict__:
        del layer.forward
    layer.__dict__.pop("orthorank", None)
    return layer


def is_selective(layer: Any) -> bool:
    return isinstance(getattr(layer, "orthorank", None), Selective)
