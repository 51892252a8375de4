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
from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin

from methods.search_log import RoundLog
from skipbench.config import FrozenConfig
from skipbench.errors import InvalidInput

ProgressFn = Callable[[str, float], None]
RoundLogFn = Callable[[str, dict[str, Any]], RoundLog]  # (search name, its identity) -> its log


@dataclass(frozen=True)
class CalibrationSpec:
    """Which calibration text a method needs; the harness turns it into ``[num_samples, seq_len]`` ids."""

    dataset: str = "c4"
    num_samples: int = 128
    seq_len: int = 2048
    seed: int = 0
    # "windows": num_samples random seq_len windows of the joined text; "rows": num_samples
    # shuffled documents joined, tokenized once and cut into seq_len windows (SLEB's code)
    unit: str = "windows"

    def __post_init__(self) -> None:
        if self.unit not in ("windows", "rows"):
            raise InvalidInput(f"calib_unit={self.unit!r} is not allowed; allowed: windows, rows")
        if self.num_samples < 1:
            raise InvalidInput(f"calib_samples={self.num_samples} must be >= 1")
        if self.seq_len < 2:
            raise InvalidInput(f"calib_seq_len={self.seq_len} must be >= 2")


@dataclass(frozen=True)
class MethodConfig(FrozenConfig):
    """Base for method configs: frozen dataclasses validated in ``__post_init__``.

    ``from_params`` (inherited) builds one from ``--set`` strings and rejects unknown keys.
    """

    def __post_init__(self) -> None:
        """Nothing to check; here so that mixins can always call ``super().__post_init__()``."""


@dataclass(frozen=True)
class CalibratedConfig(MethodConfig):
    """Mixin for methods that read calibration text: the four fields and their ``CalibrationSpec``.

    List it first among the bases (``class XConfig(CalibratedConfig, LayerSkipConfig)``): a
    dataclass puts base fields first, in reverse MRO order, so these four follow the other
    base's fields and precede the method's own. A method with other defaults redeclares a field
    (``calib_samples: int = 64``); a redeclared field keeps its place in the order.
    """

    calib_dataset: str = "c4"
    calib_samples: int = 128
    calib_seq_len: int = 2048
    seed: int = 0
    # ``pg19`` (ShortGPT's protocol) arrives as a list of per-book windows, not one tensor: only
    # methods that say they read such lists accept it (not a field: the stored config is unchanged)
    reads_window_lists: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.calib_dataset == "pg19" and not self.reads_window_lists:
            raise InvalidInput(
                "calib_dataset=pg19 is cut per book and this method reads one calibration "
                "tensor; allowed here: c4, wikitext2 (pg19 only for shortgpt and llm-drop)"
            )
        self.calibration_spec()  # validates the calibration fields

    def calibration_spec(self) -> CalibrationSpec:
        return CalibrationSpec(
            self.calib_dataset, self.calib_samples, self.calib_seq_len, self.seed
        )


@dataclass(frozen=True)
class LayerSkipConfig(MethodConfig):
    """Shared by methods that skip a number of decoder layers: sparsity or an explicit count."""

    sparsity: float = 0.2
    num_layers: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (0.0 <= self.sparsity < 1.0):
            raise InvalidInput(f"sparsity={self.sparsity} is outside [0, 1)")
        if self.num_layers is not None and self.num_layers < 0:
            raise InvalidInput(f"num_layers={self.num_layers} must be >= 0")

    def layers_to_skip(self, total: int) -> int:
        """n = ceil(sparsity x L) unless ``num_layers`` is given; always < L."""
        return self.count_to_skip(total, "decoder layers")

    def count_to_skip(self, total: int, unit: str) -> int:
        """n = ceil(sparsity x total) unless ``num_layers`` is given; always < ``total``.

        ``unit`` names what is counted in the error (``decoder layers``, ``mix blocks``, ...):
        methods that skip sublayers count their own units with the same rule.
        """
        n = (
            self.num_layers
            if self.num_layers is not None
            else math.ceil(self.sparsity * total - 1e-9)
        )
        if n >= total:
            raise InvalidInput(f"num_layers={n} must be smaller than the model's {total} {unit}")
        return n

    def requested_sparsity(self, total: int) -> float:
        """The sparsity asked for: ``sparsity``, or ``num_layers / L`` when a count is given."""
        return self.sparsity if self.num_layers is None else self.layers_to_skip(total) / total


@dataclass
class ApplyContext:
    """What the harness hands to ``Method.apply`` besides the model."""

    calibration: Any = None  # torch.LongTensor [num_samples, seq_len] or None
    progress: ProgressFn | None = None
    # the harness's: greedy searches' rounds kept beside the store (methods.search_log)
    round_logs: RoundLogFn | None = None

    def report(self, what: str, fraction: float) -> None:
        if self.progress is not None:
            self.progress(what, fraction)

    def round_log(self, search: str, identity: dict[str, Any]) -> RoundLog | None:
        """The log of a greedy search; ``identity`` is what decides its trials besides the
        weights, dtype, device and calibration tokens (which the harness adds)."""
        return None if self.round_logs is None else self.round_logs(search, identity)


@dataclass
class MethodOutcome:
    model: Any
    details: dict[str, Any] = field(default_factory=dict)


ConfigT = TypeVar("ConfigT", bound=MethodConfig)


class Method(ABC, Generic[ConfigT]):
    """Subclass as ``Method[XConfig]``, set ``name`` and ``description``; decorate with
    ``@register_method``.

    The type argument is the one source of ``Config`` (the registry, ``from_params`` and the
    ``skipbench methods`` listing read it) and types ``self.config``. A subclass that names no
    type argument may still set ``Config = XConfig`` in its body, as older plug-ins do.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    config: ConfigT

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__dict__.get("__orig_bases__", ()):
            if get_origin(base) is not Method:
                continue
            (arg,) = get_args(base)
            if not isinstance(arg, type):  # a TypeVar: a generic intermediate class
                continue
            declared = cls.__dict__.get("Config", arg)
            if declared is not arg:
                raise TypeError(
                    f"{cls.__qualname__}: Config={declared.__name__} contradicts Method[{arg.__name__}]"
                )
            cls.Config = arg

    def __init__(self, config: ConfigT | None = None) -> None:
        if config is None:
            config = self.Config()  # type: ignore[assignment]
        if not isinstance(config, self.Config):
            raise TypeError(
                f"{self.name} expects {self.Config.__name__}, got {type(config).__name__}"
            )
        self.config = config

    def calibration_spec(self) -> CalibrationSpec | None:
        """The calibration text this config needs (a ``CalibratedConfig``'s), or None."""
        if isinstance(self.config, CalibratedConfig):
            return self.config.calibration_spec()
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
