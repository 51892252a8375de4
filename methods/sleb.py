"""SLEB (Song et al., ICML 2024): greedy, iterative removal of whole transformer blocks.

Each round tries every remaining candidate block (all remaining blocks except the first
``skip_first`` and the last ``skip_last``), measures the calibration mean NLL of the model
without it, and removes for good the block whose removal hurts least (ties: lower index).
``n = ceil(sparsity x L)`` rounds unless ``num_layers`` is given.

The search is cheap without changing its answer: within a round the blocks before a candidate
never change, so per calibration batch the state entering the earliest candidate is computed
once, each trial starts from the state entering its own candidate (blocks before it are
skipped), and that state is carried forward to the next candidate through the blocks in between.
A round then costs about half of "one full forward per candidate". ``sleb_search`` is reusable
with another trial operation (OrthoRank uses "make this block token-selective"), and
``carried_round`` with several trial modules per layer (BlockPruner's attention / MLP blocks).

Calibration (``calib_unit``): ``rows`` (default, the official ``get_trainloaders``: calib_samples
shuffled documents joined, tokenized once, cut into calib_seq_len windows) or ``windows``
(calib_samples random windows of calib_seq_len tokens, SkipBench's earlier default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from methods.base import (
    ApplyContext,
    CalibratedConfig,
    CalibrationSpec,
    LayerSkipConfig,
    Method,
    MethodOutcome,
    ProgressFn,
)
from methods.layers import decoder_layers, layer_input, remove_with_details
from methods.registry import register_method
from methods.search_log import RoundLog, next_round, search_details
from skipbench.errors import InvalidInput

TrialFn = Callable[
    ..., Any
]  # trial(layer_idx, layer_module, hidden_states, **layer_kwargs) -> hidden_states


CALIB_UNITS = ("rows", "windows")


def unit_calibration_spec(config: Any) -> CalibrationSpec:
    """The ``CalibrationSpec`` of a config with a ``calib_unit`` field (SLEB, BlockPruner)."""
    if config.calib_unit not in CALIB_UNITS:
        raise InvalidInput(
            f"calib_unit={config.calib_unit!r} is not allowed; allowed: {', '.join(CALIB_UNITS)}"
        )
    if config.calib_dataset == "pg19":
        raise InvalidInput(
            "calib_dataset=pg19 is ShortGPT's per-book protocol; use c4 or wikitext2"
        )
    return CalibrationSpec(
        config.calib_dataset,
        config.calib_samples,
        config.calib_seq_len,
        config.seed,
        config.calib_unit,
    )


@dataclass(frozen=True)
class SLEBConfig(CalibratedConfig, LayerSkipConfig):
    skip_first: int = 1
    skip_last: int = 1
    calib_unit: str = "rows"  # the official protocol; "windows" = SkipBench's earlier default

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("skip_first", "skip_last"):
            if getattr(self, key) < 0:
                raise InvalidInput(f"{key}={getattr(self, key)} must be >= 0")

    def calibration_spec(self) -> CalibrationSpec:
        return unit_calibration_spec(self)


@dataclass
class SlebSearch:
    order: list[int]  # original layer indices, in selection order
    losses: list[float]  # calibration mean NLL (nats/token) after each round
    reused: int = 0  # leading rounds taken from a RoundLog instead of computed


def check_search_size(total: int, n: int, skip_first: int, skip_last: int) -> None:
    """Every round needs a candidate: ``n <= L - skip_first - skip_last`` (when n > 0)."""
    if skip_first < 0 or skip_last < 0:
        raise InvalidInput(f"skip_first={skip_first}, skip_last={skip_last} must both be >= 0")
    room = total - skip_first - skip_last
    if n > 0 and n > room:
        raise InvalidInput(
            f"cannot select {n} of {total} layers with skip_first={skip_first} and "
            f"skip_last={skip_last}; at most {max(room, 0)} are candidates"
        )


class _Stop(Exception):
    """Raised by the capture hook: nothing after the earliest candidate is needed."""


def _stand_in(idx: int, layer: Any, trial: TrialFn | None) -> Any:
    """A module that takes ``layer``'s place: identity (removal) or ``trial``."""
    import torch.nn as nn

    class StandIn(nn.Module):
        def forward(self, hidden_states: Any, **kwargs: Any) -> Any:
            if trial is None:
                return hidden_states
            return trial(idx, layer, hidden_states, **kwargs)

    return StandIn()


def _with_hidden(args: tuple, kwargs: dict, hidden: Any) -> tuple[tuple, dict]:
    if args:
        return (hidden, *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": hidden}


def batch_nll(logits: Any, ids: Any) -> tuple[float, int]:
    """(sum of next-token NLL, token count) for one batch."""
    import torch.nn.functional as F

    flat = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
    target = ids[:, 1:].reshape(-1)
    return float(F.cross_entropy(flat, target, reduction="sum").double()), int(target.numel())


def calibration_batches(calibration: Any, batch_size: int, device: Any) -> list:
    """The ``[N, T]`` calibration ids as batches of ``batch_size`` rows on ``device``."""
    return [
        calibration[s : s + batch_size].to(device) for s in range(0, len(calibration), batch_size)
    ]


def progress_ticker(progress: ProgressFn | None, what: str, units: int) -> Callable[[], None]:
    """A ``tick()`` for a search of ``units`` steps: each call reports ``what`` at done / units."""
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(what, done / max(units, 1))

    return tick


def ticks(tick: Callable[[], None], count: int) -> None:
    """Report ``count`` steps at once (a round replayed from a log)."""
    for _ in range(count):
        tick()


def sleb_search(
    model: Any,
    calibration: Any,
    n: int,
    *,
    skip_first: int = 1,
    skip_last: int = 1,
    trial: TrialFn | None = None,
    batch_size: int = 1,
    progress: ProgressFn | None = None,
    log: RoundLog | None = None,
) -> SlebSearch:
    """Greedily pick ``n`` layers whose replacement by ``trial`` (default: removal) hurts least.

    ``calibration`` is a ``[N, T]`` LongTensor. Layers picked in earlier rounds stay replaced in
    later rounds. Rounds that ``log`` already holds are replayed, new ones appended to it. The
    model is restored before returning (also on errors).
    """
    import torch

    layers = decoder_layers(model)
    total = len(layers)
    check_search_size(total, n, skip_first, skip_last)
    if batch_size < 1:
        raise InvalidInput(f"batch_size={batch_size} must be >= 1")
    originals = list(layers)
    device = next(model.parameters()).device
    batches = calibration_batches(calibration, batch_size, device)
    remaining = list(range(total))
    order: list[int] = []
    losses: list[float] = []
    reused = 0
    units = sum(len(remaining) - r - skip_first - skip_last for r in range(n)) * len(batches)
    tick = progress_ticker(progress, "sleb: search", units)
    try:
        with torch.inference_mode():
            for _ in range(n):
                candidates = remaining[skip_first : len(remaining) - skip_last]

                def compute(candidates: list[int] = candidates) -> tuple[int, float]:
                    round_losses = _round(
                        model, layers, originals, candidates, batches, trial, tick
                    )
                    loss, chosen = min((round_losses[c], c) for c in candidates)
                    return chosen, loss

                chosen, loss, replayed = next_round(
                    log,
                    list(zip(order, losses)),
                    candidates,
                    reused == len(order),
                    compute,
                    skip=partial(ticks, tick, len(candidates) * len(batches)),
                )
                reused += replayed
                layers[chosen] = _stand_in(chosen, originals[chosen], trial)
                remaining.remove(chosen)
                order.append(chosen)
                losses.append(loss)
                if log is not None:
                    log.save(list(zip(order, losses)))
    finally:
        for i, layer in enumerate(originals):
            layers[i] = layer
    return SlebSearch(order=order, losses=losses, reused=reused)


def _round(
    model: Any,
    layers: Any,
    originals: list,
    candidates: list[int],
    batches: list,
    trial: TrialFn | None,
    tick: Callable[[], None],
) -> dict[int, float]:
    """Calibration mean NLL with each candidate replaced, the other layers as they are now."""
    trials = [(c, c, _stand_in(c, originals[c], trial)) for c in candidates]
    return carried_round(model, layers, trials, batches, tick)


def carried_round(
    model: Any,
    layers: Any,
    trials: list[tuple[Any, int, Any]],
    batches: list,
    tick: Callable[[], None] | None = None,
) -> dict[Any, float]:
    """Calibration mean NLL for each trial ``(key, layer index, module)``: that module in
    place of the layer, the other layers as they are now. Trials are sorted by layer index.

    Per batch, the state entering the first trial's layer is computed once; every trial of a
    layer starts from the state entering it, and that state is then advanced to the next
    trial's layer through the current layers in between (never recomputed from the input).
    """
    if any(a[1] > b[1] for a, b in zip(trials, trials[1:])):
        raise ValueError("trials must be sorted by layer index")
    sums = {key: 0.0 for key, _, _ in trials}
    count = 0
    for ids in batches:
        hidden = _forward(model, layers, ids, stop_at=trials[0][1])
        for j, (key, idx, module) in enumerate(trials):
            current = layers[idx]
            layers[idx] = module
            try:
                logits = _forward(model, layers, ids, start=idx, hidden=hidden)
            finally:
                layers[idx] = current
            nll, tokens = batch_nll(logits, ids)
            del logits
            sums[key] += nll
            if tick is not None:
                tick()
            if j + 1 < len(trials) and trials[j + 1][1] != idx:
                hidden = _forward(
                    model, layers, ids, start=idx, hidden=hidden, stop_at=trials[j + 1][1]
                )
        count += tokens
    return {key: v / count for key, v in sums.items()}


def _forward(
    model: Any,
    layers: Any,
    ids: Any,
    *,
    start: int | None = None,
    hidden: Any = None,
    stop_at: int | None = None,
) -> Any:
    """The model's own forward, optionally entered at layer ``start`` and left at ``stop_at``.

    Entering at ``start``: the layers before it act as identities and ``hidden`` is swapped in
    as the state entering it, so per-layer masks and position embeddings, the final norm, the
    LM head and any logit soft-capping are exactly the model's. Leaving at ``stop_at``: returns
    the state entering that layer instead of the logits.
    """
    import torch

    handles = []
    prefix = list(layers)[: start or 0]
    captured: list = []

    def swap(module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        return _with_hidden(args, kwargs, hidden)

    def stop(module: Any, args: tuple, kwargs: dict) -> None:
        captured.append(layer_input(args, kwargs))
        raise _Stop

    try:
        if start is None:
            inputs = {"input_ids": ids}
        else:
            for i in range(start):
                layers[i] = _stand_in(i, None, None)
            handles.append(layers[start].register_forward_pre_hook(swap, with_kwargs=True))
            inputs = {
                "inputs_embeds": torch.zeros(
                    *ids.shape, hidden.shape[-1], dtype=hidden.dtype, device=ids.device
                )
            }
        if stop_at is not None:
            handles.append(layers[stop_at].register_forward_pre_hook(stop, with_kwargs=True))
        try:
            return model(**inputs, use_cache=False).logits
        except _Stop:
            return captured[0]
    finally:
        for handle in handles:
            handle.remove()
        for i, layer in enumerate(prefix):
            layers[i] = layer


@register_method
class SLEB(Method[SLEBConfig]):
    name = "sleb"
    description = "Greedy iterative block removal: each round drops the block whose removal raises calibration NLL least."

    def validate_for(self, num_layers: int) -> None:
        c = self.config
        check_search_size(num_layers, c.layers_to_skip(num_layers), c.skip_first, c.skip_last)

    def apply(self, model: Any, ctx: ApplyContext) -> MethodOutcome:
        config = self.config
        total = len(decoder_layers(model))
        n = config.layers_to_skip(total)
        self.validate_for(total)
        if n > 0 and ctx.calibration is None:
            raise InvalidInput("sleb needs calibration data")
        search = SlebSearch([], [])
        bounds = {"skip_first": config.skip_first, "skip_last": config.skip_last}
        log = ctx.round_log("sleb", {"trial": "remove", **bounds}) if n > 0 else None
        if n > 0:
            search = sleb_search(
                model,
                ctx.calibration,
                n,
                skip_first=config.skip_first,
                skip_last=config.skip_last,
                progress=ctx.report,
                log=log,
            )
        details = remove_with_details(
            model,
            search.order,
            config.requested_sparsity(total),
            per_removal={"calibration_loss": [round(v, 6) for v in search.losses]},
            extra={"candidate_bounds": bounds, **search_details(log, search.reused, n)},
        )
        return MethodOutcome(model=model, details=details)
