"""The ``compiled`` prefill mode: every decoder layer that is not a method's own kernel goes
through ``torch.compile``, on the dense side and the method side alike.

Without it the dense baseline runs transformers' eager kernels (RMSNorm as six or seven
kernels, rotate-half RoPE, SiLU x up, residual adds: about a third of a layer's time on an
H100/H200) while a method whose layers are compiled kernels of its own gets that fusion for
free: an eager baseline flatters it. A layer whose ``forward`` a method replaced on the instance
(OrthoRank's selective layers: two compiled regions of their own) is left as it is; every other
decoder layer, including the regrouped sublayer stacks of sublayer dropping, is compiled.
"""

from __future__ import annotations

from typing import Any

from harness.models import same_weights_copy
from methods.layers import decoder_layers

# Decoder layers of one class share a compiled graph (their weights are graph inputs), but
# each shape and each layer structure adds an entry to the code object's cache.
CACHE_SIZE_LIMIT = 256


def is_method_kernel(layer: Any) -> bool:
    """A layer whose forward a method replaced on the instance runs that method's own kernel."""
    return "forward" in vars(layer)


def compile_layers(model: Any, backend: str = "inductor") -> tuple[Any, dict[str, int]]:
    """A weight-sharing copy of ``model`` whose decoder layers (method kernels aside) are
    compiled in place (``nn.Module.compile``, static shapes); returns it and the counts."""
    import torch._dynamo

    for name in ("cache_size_limit", "accumulated_cache_size_limit"):
        if getattr(torch._dynamo.config, name, CACHE_SIZE_LIMIT) < CACHE_SIZE_LIMIT:
            setattr(torch._dynamo.config, name, CACHE_SIZE_LIMIT)
    copy = same_weights_copy(model)
    compiled = kept = 0
    for layer in decoder_layers(copy):
        if is_method_kernel(layer):
            kept += 1
            continue
        layer.compile(backend=backend, dynamic=False)
        compiled += 1
    return copy, {"layers_compiled": compiled, "method_kernel_layers": kept}
