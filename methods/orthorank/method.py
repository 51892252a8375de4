"""OrthoRank (Shin, Oh, Oh, ICML 2025): token-selective layers, ranked by orthogonality to the sink.

At each of ``n_sel = ceil(sparsity x L / (1 - keep_ratio))`` selective layers, only the
``ceil(keep_ratio x T)`` tokens whose normalized hidden state is most orthogonal to the sink's
(the first non-padding token) are updated; every token still contributes K and V. This module
is the method: its config, the choice of layers (``layers=sleb|shortgpt|last`` or an explicit
list) and what it reports. The layer forward is ``methods.orthorank.dispatch`` and the kernels
below it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from methods.base import (
    ApplyContext,
    CalibratedConfig,
    CalibrationSpec,
    Method,
    MethodConfig,
    MethodOutcome,
)
from methods.layers import decoder_layers, text_config
from methods.registry import register_method
from skipbench.errors import InvalidInput

STRATEGIES = ("sleb", "shortgpt", "last")
KERNELS = ("auto", "reference", "flex", "fused")
FLOP_TOKENS = 2048  # sequence length at which details count tokens updated and FLOPs
_EXPLICIT = re.compile(r"^\s*\d+\s*(,\s*\d+\s*)*$")


@dataclass(frozen=True)
class TokenSelectionConfig(MethodConfig):
    """What OrthoRank computes: how many layers become selective, which, and which tokens.

    ``OrthoRankConfig`` adds the calibration fields and the kernel after these (stored order).
    """

    sparsity: float = 0.2
    keep_ratio: float = 0.33
    layers: str = "sleb"
    score: Literal["orthogonality", "random", "reverse"] = "orthogonality"
    unselected_kv: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (0.0 <= self.sparsity < 1.0):
            raise InvalidInput(f"sparsity={self.sparsity} is outside [0, 1)")
        if not (0.0 < self.keep_ratio <= 1.0):
            raise InvalidInput(f"keep_ratio={self.keep_ratio} is outside (0, 1]")
        if self.score not in ("orthogonality", "random", "reverse"):
            raise InvalidInput(
                f"score={self.score!r} is not allowed; allowed: orthogonality, random, reverse"
            )
        if not isinstance(self.unselected_kv, bool):
            raise InvalidInput(
                f"unselected_kv={self.unselected_kv!r} is not a boolean; allowed: true, false"
            )
        if self.layers not in STRATEGIES and not _EXPLICIT.match(self.layers):
            raise InvalidInput(
                f"layers={self.layers!r} is not allowed; allowed: sleb, shortgpt, last, or indices like 20,22,24"
            )
        explicit = self.explicit_layers()
        if explicit is not None and len(set(explicit)) != len(explicit):
            raise InvalidInput(f"layers={self.layers!r} names a layer more than once")
        if self.keep_ratio == 1.0 and explicit is None:
            raise InvalidInput(
                "keep_ratio=1.0 skips nothing, so n_sel = sparsity x L / (1 - keep_ratio) is undefined; "
                "give explicit layers (e.g. layers=2,3)"
            )

    def explicit_layers(self) -> list[int] | None:
        if self.layers in STRATEGIES:
            return None
        return [int(s) for s in self.layers.split(",")]

    def num_selective(self, total: int) -> int:
        """n_sel = ceil(sparsity x L / (1 - keep_ratio)), or the length of the explicit list."""
        explicit = self.explicit_layers()
        if explicit is not None:
            return len(explicit)
        return math.ceil(self.sparsity * total / (1.0 - self.keep_ratio) - 1e-9)


@dataclass(frozen=True)
class OrthoRankConfig(CalibratedConfig, TokenSelectionConfig):
    kernel: Literal["auto", "reference", "flex", "fused"] = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kernel not in KERNELS:
            raise InvalidInput(
                f"kernel={self.kernel!r} is not allowed; allowed: {', '.join(KERNELS)}"
            )


def check_layers(config: OrthoRankConfig, total: int) -> int:
    """Raise ``InvalidInput`` when ``config`` cannot apply to ``total`` layers; returns n_sel."""
    n = config.num_selective(total)
    explicit = config.explicit_layers()
    if explicit is not None:
        bad = [i for i in explicit if not 0 <= i < total]
        if bad:
            raise InvalidInput(
                f"layers={config.layers!r}: indices {bad} are out of range 0..{total - 1}"
            )
        return n
    room = {"sleb": total - 2, "last": total - 1, "shortgpt": total - 1}[config.layers]
    if n > room:
        raise InvalidInput(
            f"sparsity={config.sparsity} with keep_ratio={config.keep_ratio} needs n_sel={n} selective "
            f"layers, but layers={config.layers} can choose at most {max(room, 0)} of {total}"
        )
    return n


@register_method
class OrthoRank(Method[OrthoRankConfig]):
    name = "orthorank"
    description = (
        "Token-selective layers: update only the tokens most orthogonal to the attention sink."
    )

    def calibration_spec(self) -> CalibrationSpec | None:
        """Only the searched strategies (``sleb``, ``shortgpt``) read calibration text."""
        if self.config.layers not in ("sleb", "shortgpt"):
            return None
        return self.config.calibration_spec()

    def validate_for(self, num_layers: int) -> None:
        check_layers(self.config, num_layers)

    def settings(self, kernel: str = "reference") -> Any:
        from methods.orthorank.selection import Selective

        c = self.config
        return Selective(
            keep_ratio=c.keep_ratio,
            score=c.score,
            unselected_kv=c.unselected_kv,
            seed=c.seed,
            kernel=kernel,
        )

    def resolve_kernel(self, model: Any) -> str:
        """``auto``: the fused fast path on CUDA, the plain reference elsewhere.

        All kernels compute the same function: ``flex`` and ``fused`` change the attention kernel
        and fuse elementwise work on the prefill path only (see ``methods.orthorank.dispatch``).
        """
        c = self.config
        if c.kernel != "auto":
            return c.kernel
        param = next(iter(model.parameters()), None)
        on_cuda = param is not None and param.device.type == "cuda"
        return "fused" if on_cuda else "reference"

    def choose_layers(self, model: Any, ctx: ApplyContext) -> tuple[list[int], dict[str, Any]]:
        """The selective layers (in choice order) and what the strategy reports."""
        config = self.config
        total = len(decoder_layers(model))
        n = check_layers(config, total)
        explicit = config.explicit_layers()
        if explicit is not None:
            return explicit, {}
        if n == 0:
            return [], {}
        if config.layers == "last":
            return list(range(total - 1 - n, total - 1)), {}
        if ctx.calibration is None:
            raise InvalidInput(f"orthorank with layers={config.layers} needs calibration data")
        if config.layers == "shortgpt":
            from methods.shortgpt import compute_block_influence

            bi = compute_block_influence(model, ctx.calibration, ctx)
            order = sorted(range(total), key=lambda i: (bi[i], i))[:n]
            return order, {"block_influence": [round(v, 6) for v in bi]}
        from methods.orthorank.dispatch import selective_forward
        from methods.search_log import search_details
        from methods.sleb import sleb_search

        settings = self.settings()  # the search always runs the reference kernel

        def trial(idx: int, layer: Any, hidden_states: Any, **kwargs: Any) -> Any:
            return selective_forward(layer, settings, hidden_states, **kwargs)

        identity = {
            "trial": "orthorank-selective",
            "keep_ratio": settings.keep_ratio,
            "score": settings.score,
            "unselected_kv": settings.unselected_kv,
            "seed": settings.seed,
            "kernel": settings.kernel,
            "skip_first": 1,
            "skip_last": 1,
        }
        # score=random draws from one generator across all trials, so a replayed round would
        # leave later rounds a different stream: that search is never logged
        log = ctx.round_log("sleb", identity) if settings.score != "random" else None
        search = sleb_search(
            model,
            ctx.calibration,
            n,
            skip_first=1,
            skip_last=1,
            trial=trial,
            progress=ctx.report,
            log=log,
        )
        return search.order, {
            "calibration_loss": [round(v, 6) for v in search.losses],
            **search_details(log, search.reused, n),
        }

    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        from methods.orthorank.dispatch import make_selective
        from methods.orthorank.flops import layer_flops
        from methods.orthorank.selection import keep_count

        config = self.config
        layers = decoder_layers(model)
        total = len(layers)
        chosen, extra = self.choose_layers(model, ctx)  # the search always runs the reference
        kernel = self.resolve_kernel(model)
        settings = self.settings(kernel)
        for i in chosen:
            make_selective(layers[i], settings)

        seq = FLOP_TOKENS  # the papers' window, whatever the calibration length
        k = keep_count(config.keep_ratio, seq)
        cfg = text_config(model)
        dense = layer_flops(cfg, seq)
        selective = layer_flops(cfg, seq, k)
        n = len(chosen)
        realized = n * (dense - selective) / (total * dense)
        layer_equivalent = n * (1.0 - k / seq) / total
        nominal = config.sparsity if config.explicit_layers() is None else layer_equivalent
        details = {
            "selective_layers": sorted(chosen),
            "selection_order": chosen,
            "layer_strategy": config.layers if config.explicit_layers() is None else "explicit",
            "num_layers_total": total,
            "keep_ratio": config.keep_ratio,
            "score": config.score,
            "unselected_kv": config.unselected_kv,
            "kernel": kernel,
            # one new token per decode step is always selected: decode is the dense layer's
            "decode_equals_dense": True,
            "tokens_updated_fraction": {
                "at_tokens": seq,
                "selective_layers": k / seq,
                "all_layers": (total - n + n * k / seq) / total,
            },
            "sparsity": {
                "nominal": nominal,
                "realized": realized,
                "layer_equivalent": layer_equivalent,
                "counted_as": f"decoder-layer FLOPs at {seq} tokens, K/V projections and scoring included",
            },
            **extra,
        }
        return MethodOutcome(model=model, details=details)
