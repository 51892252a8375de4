"""The method contract.

A method has a registry ``name``, a frozen, validated ``Config`` dataclass, and ``apply()``,
which turns a loaded Hugging Face causal LM (plus calibration token ids when the method needs
them) into the model to evaluate, and reports what it did in ``MethodOutcome.details``
(JSON-serialisable: removed layer indices in removal order, nominal and realized sparsity, ...).

Methods never load data themselves: they declare a ``CalibrationSpec`` and the harness hands
them the token ids, so the data (and its hash) is recorded with the run.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from skipbench.config import FrozenConfig
from skipbench.errors import InvalidInput

ProgressFn = Callable[[str, float], None]


@dataclass(frozen=True)
class CalibrationSpec:
    """Which calibration text a method needs; the harness turns it into ``[num_samples, seq_len]`` ids."""

    dataset: str = "c4"
    num_samples: int = 128
    seq_len: int = 2048
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_samples < 1:
            raise InvalidInput(f"calib_samples={self.num_samples} must be >= 1")
        if self.seq_len < 2:
            raise InvalidInput(f"calib_seq_len={self.seq_len} must be >= 2")


def calibration_of(config: Any) -> CalibrationSpec:
    """The (validated) ``CalibrationSpec`` of a config with the fields ``calib_dataset``,
    ``calib_samples``, ``calib_seq_len`` and ``seed`` (ShortGPT, SLEB, OrthoRank)."""
    return CalibrationSpec(
        config.calib_dataset, config.calib_samples, config.calib_seq_len, config.seed
    )


@dataclass(frozen=True)
class MethodConfig(FrozenConfig):
    """Base for method configs: frozen dataclasses validated in ``__post_init__``.

    ``from_params`` (inherited) builds one from ``--set`` strings and rejects unknown keys.
    """


@dataclass(frozen=True)
class LayerSkipConfig(MethodConfig):
    """Shared by methods that skip a number of decoder layers: sparsity or an explicit count."""

    sparsity: float = 0.2
    num_layers: int | None = None

    def __post_init__(self) -> None:
        if not (0.0 <= self.sparsity < 1.0):
            raise InvalidInput(f"sparsity={self.sparsity} is outside [0, 1)")
        if self.num_layers is not None and self.num_layers < 0:
            raise InvalidInput(f"num_layers={self.num_layers} must be >= 0")

    def layers_to_skip(self, total: int) -> int:
        """n = ceil(sparsity x L) unless ``num_layers`` is given; always < L."""
        n = (
            self.num_layers
            if self.num_layers is not None
            else math.ceil(self.sparsity * total - 1e-9)
        )
        if n >= total:
            raise InvalidInput(
                f"num_layers={n} must be smaller than the model's {total} decoder layers"
            )
        return n


@dataclass
class ApplyContext:
    """What the harness hands to ``Method.apply`` besides the model."""

    calibration: Any = None  # torch.LongTensor [num_samples, seq_len] or None
    progress: ProgressFn | None = None
    batch_size: int = 1

    def report(self, what: str, fraction: float) -> None:
        if self.progress is not None:
            self.progress(what, fraction)


@dataclass
class MethodOutcome:
    model: Any
    details: dict[str, Any] = field(default_factory=dict)


class Method(ABC):
    """Subclass, set ``name``, ``description``, ``Config``; decorate with ``@register_method``."""

    name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type[MethodConfig]] = MethodConfig

    def __init__(self, config: MethodConfig | None = None) -> None:
        if config is None:
            config = self.Config()
        if not isinstance(config, self.Config):
            raise TypeError(
                f"{self.name} expects {self.Config.__name__}, got {type(config).__name__}"
            )
        self.config = config

    def calibration_spec(self) -> CalibrationSpec | None:
        """The calibration text this config needs, or None."""
        return None

    def validate_for(self, num_layers: int) -> None:
        """Raise ``InvalidInput`` if this config cannot apply to a model with ``num_layers`` layers."""
        if isinstance(self.config, LayerSkipConfig):
            self.config.layers_to_skip(num_layers)

    def nominal_sparsity(self) -> float | None:
        """The sparsity the user asked for (for grouping on the leaderboard)."""
        return getattr(self.config, "sparsity", None)

    @abstractmethod
    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        """Return the model to evaluate (may modify ``model`` in place) and what was done."""
