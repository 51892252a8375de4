"""How many GPUs a job needs: as the user says (``--gpus-per-job``), or estimated.

The estimate, where the model's config is readable here (a ``config:`` name, a local folder;
not a hub id, whose config is not fetched at submit):

    GPUs = ceil(parameters x bytes per parameter x OVERHEAD / memory of the smallest GPU)

- parameters: counted exactly by instantiating the config on the ``meta`` device (no memory);
- bytes per parameter: 4 for float32, 2 for bfloat16/float16 and for ``auto`` (bf16 on CUDA);
- OVERHEAD = 1.2: activations, the KV cache of the suites' sequence lengths, the CUDA context
  and the allocator's slack on top of the weights (a 7B bf16 model, 13.5 GB, then asks for
  16.2 GB: one 24 GB GPU; a 70B one, 138 GB, asks for 166 GB: two GPUs of 80 GiB or of 141 GB);
- the smallest GPU: the smallest memory (or per-GPU cap) among the GPU workers in the
  registry. Without any, or for a CPU job, the job needs 1 GPU (the plain queue).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workers.gpu_groups import check_gpus_per_job

OVERHEAD = 1.2
BYTES_PER_DTYPE = {"float32": 4, "bfloat16": 2, "float16": 2, "auto": 2}


@dataclass(frozen=True)
class Sizing:
    gpus: int
    reason: str  # one line for submit's output


def readable_config(source: str) -> dict[str, Any] | None:
    """The model's config as a dict, where it can be read without a download; else None."""
    from harness import random_models
    from harness.models import resolve_source
    from skipbench.errors import InvalidInput

    try:
        resolved = resolve_source(source)
    except InvalidInput:
        return None
    if resolved.kind == "random":
        return random_models.config_dict(resolved.location)
    if resolved.kind == "folder":
        try:
            return json.loads((Path(resolved.location) / "config.json").read_text())
        except (OSError, ValueError):
            return None
    return None


def parameter_count(config: dict[str, Any]) -> int | None:
    """Parameters of the model ``config`` describes, counted on the meta device."""
    try:
        from accelerate import init_empty_weights
        from transformers import AutoConfig, AutoModelForCausalLM

        values = {k: v for k, v in config.items() if not k.startswith("_")}
        cfg = AutoConfig.for_model(**values)
        with init_empty_weights():
            model = AutoModelForCausalLM.from_config(cfg)
    except Exception:  # an architecture transformers cannot build here: no estimate
        return None
    return sum(p.numel() for p in model.parameters())


def gpus_for(params: int, dtype: str, gpu_bytes: int) -> int:
    need = params * BYTES_PER_DTYPE[dtype] * OVERHEAD
    return max(1, math.ceil(need / gpu_bytes))


def size_job(
    source: str, dtype: str, device: str, gpus_per_job: int | None, smallest_gpu: int | None
) -> Sizing:
    """The job's GPU count and why."""
    if gpus_per_job is not None:
        check_gpus_per_job(gpus_per_job)
        return Sizing(gpus_per_job, f"{gpus_per_job} GPU(s) as given (--gpus-per-job)")
    if device == "cpu":
        return Sizing(1, "a CPU job")
    if smallest_gpu is None:
        return Sizing(1, "1 GPU: no GPU worker has reported its memory yet (--gpus-per-job N)")
    config = readable_config(source)
    params = parameter_count(config) if config is not None else None
    if params is None:
        return Sizing(1, "1 GPU: the model's config is not readable here (--gpus-per-job N)")
    gpus = gpus_for(params, dtype, smallest_gpu)
    weights = params * BYTES_PER_DTYPE[dtype]
    return Sizing(
        gpus,
        f"{gpus} GPU(s) estimated: {params / 1e9:.2f}B parameters x {BYTES_PER_DTYPE[dtype]} "
        f"bytes = {weights / 2**30:.1f} GiB, x{OVERHEAD} overhead, against the smallest worker "
        f"GPU of {smallest_gpu / 2**30:.1f} GiB",
    )
