"""What names a model and what a loaded one carries, shared by every way of loading one.

``ModelSpec`` is what a run records; ``ResolvedSource`` is what the spec's source turned out to
name; ``LoadedModel`` is the model, its tokenizer and the facts the store needs. ``models``
(checkpoints) and ``random_models`` (shipped configs) both build ``LoadedModel`` from here, so
neither imports the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from skipbench.config import FrozenConfig
from skipbench.errors import InvalidInput

DType = Literal["auto", "float32", "bfloat16", "float16"]
Device = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class ModelSpec(FrozenConfig):
    source: str = ""
    revision: str | None = None
    dtype: DType = "auto"
    device: Device = "auto"
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        if not self.source:
            raise InvalidInput(
                "a model is required: a hub id, a local folder, a .gguf file or a catalog name"
            )
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise InvalidInput(f"dtype={self.dtype!r}; allowed: auto, float32, bfloat16, float16")
        index = self.device.removeprefix("cuda:") if self.device.startswith("cuda:") else None
        if self.device not in ("auto", "cpu", "cuda") and not (index and index.isdigit()):
            raise InvalidInput(f"device={self.device!r}; allowed: auto, cpu, cuda, cuda:N")


@dataclass(frozen=True)
class ResolvedSource:
    kind: Literal["folder", "gguf", "hub", "random"]
    location: str  # folder, gguf path, hub id, or config name
    display: str  # what the run records as model id


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    spec: ModelSpec
    info: dict[str, Any] = field(default_factory=dict)  # model_type, num_layers, params, hash, ...

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device
