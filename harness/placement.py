"""Where a loaded model's weights live: one device, or spread over several GPUs by accelerate.

A worker that owns a group of GPUs runs each job inside ``spread_over(Placement(gpus=n))``;
``harness.models.load_model`` then loads the checkpoint with transformers' ``device_map="auto"``
(accelerate's balanced map, each GPU capped at ``max_memory_per_gpu``) over the visible GPUs
``0..n-1``. Nothing here shards by itself: accelerate places whole decoder layers and its hooks
move activations between devices. The helpers below read such a model back (its CUDA devices,
a compact device map for provenance) without caring how it was placed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from skipbench.errors import InvalidInput

_MEMORY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(GiB|MiB|GB|MB)\s*$")
_UNITS = {"GiB": 2**30, "MiB": 2**20, "GB": 10**9, "MB": 10**6}


def memory_bytes(text: str) -> int:
    """``"70GiB"`` -> bytes; units GiB, MiB, GB, MB."""
    match = _MEMORY.match(text or "")
    if not match or float(match[1]) <= 0:
        raise InvalidInput(
            f"memory per GPU {text!r}: expected a positive size like 70GiB (units GiB, MiB, GB, MB)"
        )
    return int(float(match[1]) * _UNITS[match[2]])


@dataclass(frozen=True)
class Placement:
    """How many of the visible GPUs a model is spread over, and each one's cap."""

    gpus: int = 1
    max_memory_per_gpu: str | None = None  # e.g. "70GiB"; None: what accelerate finds free

    def __post_init__(self) -> None:
        if not isinstance(self.gpus, int) or self.gpus < 1:
            raise InvalidInput(f"placement over {self.gpus!r} GPUs: must be at least 1")
        if self.max_memory_per_gpu is not None:
            memory_bytes(self.max_memory_per_gpu)

    @property
    def spread(self) -> bool:
        return self.gpus > 1

    def max_memory(self) -> dict[Any, Any]:
        """accelerate's ``max_memory``: GPUs ``0..gpus-1`` only (no CPU or disk offload)."""
        import torch

        visible = torch.cuda.device_count()
        if visible < self.gpus:
            raise InvalidInput(
                f"the job needs {self.gpus} GPUs but this process sees {visible} "
                "(CUDA_VISIBLE_DEVICES)"
            )
        if self.max_memory_per_gpu is not None:
            return dict.fromkeys(range(self.gpus), memory_bytes(self.max_memory_per_gpu))
        from accelerate.utils import get_max_memory

        free = get_max_memory()
        return {i: free[i] for i in range(self.gpus)}


_CURRENT: ContextVar[Placement | None] = ContextVar("skipbench_placement", default=None)


def current() -> Placement | None:
    return _CURRENT.get()


@contextmanager
def spread_over(placement: Placement) -> Iterator[Placement]:
    """Models loaded inside the block are placed by ``placement``."""
    token = _CURRENT.set(placement)
    try:
        yield placement
    finally:
        _CURRENT.reset(token)


def device_map(model: Any) -> dict[str, Any] | None:
    """The module -> device map accelerate dispatched ``model`` with, or None."""
    found = getattr(model, "hf_device_map", None)
    return dict(found) if found else None


def cuda_devices(model: Any) -> list[Any]:
    """Every CUDA device holding a parameter or buffer of ``model``, in index order (empty on
    the CPU)."""
    seen = {t.device for t in [*model.parameters(), *model.buffers()] if t.device.type == "cuda"}
    return sorted(seen, key=lambda d: d.index if d.index is not None else 0)


def summary(model: Any) -> dict[str, str] | None:
    """A compact device map for provenance: consecutive modules on one device merged,
    e.g. ``{"model.embed_tokens..model.layers.39": "cuda:0", "model.layers.40..lm_head": "cuda:1"}``.
    None for a model not dispatched by accelerate."""
    mapping = device_map(model)
    if not mapping:
        return None
    runs: list[tuple[str, str, str]] = []  # (first, last, device)
    for name, device in mapping.items():
        shown = f"cuda:{device}" if isinstance(device, int) else str(device)
        if runs and runs[-1][2] == shown:
            runs[-1] = (runs[-1][0], name, shown)
        else:
            runs.append((name, name, shown))
    return {(a if a == b else f"{a}..{b}"): d for a, b, d in runs}


def dispatch(model: Any, placement: Placement, dtype: Any) -> Any:
    """Spread an already built model (random weights on the CPU) over the placement's GPUs
    with accelerate's balanced map; the same engine ``from_pretrained(device_map=...)`` uses."""
    from accelerate import dispatch_model, infer_auto_device_map
    from accelerate.utils import get_balanced_memory

    no_split = getattr(model, "_no_split_modules", None) or []
    budget = get_balanced_memory(
        model, max_memory=placement.max_memory(), no_split_module_classes=no_split, dtype=dtype
    )
    mapping = infer_auto_device_map(
        model, max_memory=budget, no_split_module_classes=no_split, dtype=dtype
    )
    off = sorted({str(d) for d in mapping.values() if not isinstance(d, int)})
    if off:
        raise InvalidInput(
            f"the model does not fit on {placement.gpus} GPUs (accelerate would put parts on "
            f"{', '.join(off)}); use more GPUs per job or a larger --max-memory-per-gpu"
        )
    model = dispatch_model(model, device_map=mapping)
    model.hf_device_map = mapping
    return model
