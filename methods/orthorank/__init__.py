"""OrthoRank, one folder read top-down; each module imports only the ones below it.

- ``method``: the config, the choice of selective layers and the details (registers ``orthorank``);
  ``flops`` counts what the details report.
- ``dispatch``: installs the selective forward on a layer and sends each call to a kernel; the
  only module that knows all of them.
- the kernels: ``fused`` (two compiled regions), ``flex`` (FlexAttention), ``reference`` (plain
  torch, every input).
- the shared operations: ``block_mask``, ``selection`` (settings, scores, top-k) and ``ops``
  (RoPE, row gathers, norms, the layer tail).

Importing the package registers the method without importing torch.
"""

from methods.orthorank.method import OrthoRank, OrthoRankConfig, check_layers

__all__ = ["OrthoRank", "OrthoRankConfig", "check_layers"]
