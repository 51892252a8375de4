"""Throughput: prefill latency and decode speed as the device sees them.

Prefill is one forward of ``B x T`` random token ids (no KV cache, logits for the last position
only, as generation needs), in two modes: ``eager`` (task ``prefill/b{B}x{T}``) and, on CUDA,
``compiled`` (``prefill-compiled/b{B}x{T}``): every decoder layer that is not a method's own
kernel ``torch.compile``d on both sides (``compiled.py``), so a method's fused layers are not
compared with transformers' eager kernels. Decode is greedy generation of exactly ``new_tokens`` tokens after a
``prompt_len`` prompt, EOS ignored, in these modes:

- ``eager``: plain ``model.generate`` (what users of transformers get);
- ``graph``: a static KV cache, prefill run eagerly, then each one-token step compiled by
  ``torch.compile`` (norms, RoPE and activations become a few fused kernels) and replayed from a
  CUDA graph that also writes the argmax back into its own input (no host work between tokens):
  what a serving stack gets. One compile per model and shape;
- ``cudagraph`` (opt-in): ``graph`` without ``torch.compile``, the step's eager kernels replayed
  from the graph, to show what compiling adds.

On CPU both graph modes run the same static-cache loop, uncompiled and without a graph.

For a method other than dense the unmodified model (sharing the method's weights) is timed in
the same process, shape and mode, in alternating rounds (``rounds``), and each task also stores
``speedup`` (tokens/s over dense) and ``ideal_speedup`` (``ideal.py``: prefill 1 / (1 - realized
FLOP sparsity), batch-1 decode the weight-bytes ratio; a method whose decode is dense by
construction stores speedup 1.0, the measured ratio going to the artifact). TTFT is the median time of prefill plus the first token; time per output token is
``(total - TTFT) / (new_tokens - 1)``; tokens/s is ``B x new_tokens / total``. Every figure is a
median over timed repeats after warm-up (p90 and the samples go to the artifact). Works on
random-weight ``config:`` models: speed depends on the architecture only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from harness.suites.base import (
    MetricValue,
    Suite,
    SuiteConfig,
    SuiteContext,
    SuiteOutcome,
    register_suite,
)
from harness.suites.throughput import ideal
from harness.suites.throughput.compiled import compile_layers
from harness.suites.throughput.declaration import DECLARATION
from harness.suites.throughput.measure import (  # noqa: F401 - re-exported for callers
    StaticDecoder,
    eager_generate,
    measure_decode,
    measure_decode_sides,
    measure_prefill,
    measure_prefill_sides,
    prefill_forward,
    random_ids,
)
from harness.timing import is_cuda
from skipbench.errors import InvalidInput

Preset = Literal["custom", "sleb", "orthorank"]
DECODE_MODES = ("eager", "graph", "cudagraph")
PREFILL_MODES = ("eager", "compiled")
# The papers' settings; a preset replaces the grid fields below.
PRESETS: dict[str, dict[str, Any]] = {
    "sleb": dict(
        prefill_batch_sizes=(1,),
        prefill_seq_lens=(2048,),
        decode_batch_sizes=(64,),
        prompt_len=64,
        new_tokens=128,
    ),
    "orthorank": dict(prefill_batch_sizes=(32,), prefill_seq_lens=(2048,), decode_batch_sizes=()),
}


@dataclass(frozen=True)
class ThroughputConfig(SuiteConfig):
    preset: Preset = "custom"
    prefill_batch_sizes: tuple[int, ...] = (1,)
    prefill_seq_lens: tuple[int, ...] = (2048,)
    decode_batch_sizes: tuple[int, ...] = (1,)
    prefill_modes: tuple[str, ...] = PREFILL_MODES
    prompt_len: int = 512
    new_tokens: int = 128
    decode_modes: tuple[str, ...] = ("eager", "graph")
    warmup: int = 2
    repeats: int = 10
    rounds: int = 2
    decode_repeats: int = 3
    baseline: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.preset not in ("custom", *PRESETS):
            raise InvalidInput(f"preset={self.preset!r}; allowed: custom, {', '.join(PRESETS)}")
        for name in ("prefill_batch_sizes", "prefill_seq_lens", "decode_batch_sizes"):
            bad = [v for v in getattr(self, name) if v < 1]
            if bad:
                raise InvalidInput(f"{name} has {bad}; every value must be >= 1")
        if self.prompt_len < 1:
            raise InvalidInput(f"prompt_len={self.prompt_len} must be >= 1")
        if self.new_tokens < 2:
            raise InvalidInput(
                f"new_tokens={self.new_tokens} must be >= 2 (time per token needs two)"
            )
        bad_prefill = [m for m in self.prefill_modes if m not in PREFILL_MODES]
        if bad_prefill or not self.prefill_modes:
            raise InvalidInput(
                f"prefill_modes={list(self.prefill_modes)}; allowed: one or more of "
                f"{', '.join(PREFILL_MODES)}"
            )
        bad_modes = [m for m in self.decode_modes if m not in DECODE_MODES]
        if bad_modes:
            raise InvalidInput(f"decode_modes has {bad_modes}; allowed: {', '.join(DECODE_MODES)}")
        if self.warmup < 0 or self.repeats < 1 or self.decode_repeats < 1 or self.rounds < 1:
            raise InvalidInput(
                f"warmup={self.warmup} must be >= 0, repeats={self.repeats}, "
                f"rounds={self.rounds} and decode_repeats={self.decode_repeats} >= 1"
            )
        if not isinstance(self.baseline, bool):
            raise InvalidInput(f"baseline={self.baseline!r} is not a boolean; allowed: true, false")

    def grid(self) -> dict[str, Any]:
        """The effective grid: the preset's values where a preset is chosen, else the fields."""
        keys = (
            "prefill_batch_sizes",
            "prefill_seq_lens",
            "decode_batch_sizes",
            "prompt_len",
            "new_tokens",
        )
        out = {k: getattr(self, k) for k in keys}
        out.update(PRESETS.get(self.preset, {}))
        return out


def _oom_errors() -> tuple[type[BaseException], ...]:
    import torch

    return (torch.cuda.OutOfMemoryError,) if hasattr(torch.cuda, "OutOfMemoryError") else ()


@register_suite
class ThroughputSuite(Suite[ThroughputConfig]):
    declaration = DECLARATION
    needs_real_weights = False

    def wants_baseline(self) -> bool:
        return self.config.baseline

    def run(self, lm: Any, ctx: SuiteContext) -> SuiteOutcome:
        config = self.config
        grid, device, model = config.grid(), lm.device, lm.model
        results: list[MetricValue] = []
        records: list[dict[str, Any]] = []
        errors: list[str] = []
        skipped: list[str] = []
        jobs: list[tuple[str, tuple]] = []
        modes = list(config.prefill_modes)
        if "compiled" in modes and not is_cuda(device):
            modes.remove("compiled")
            skipped.append("prefill compiled: CUDA only (torch.compile on CPU times the host)")
        if "prefill" in self.selected_tasks:
            jobs += [
                ("prefill", (b, t, mode))
                for mode in modes
                for b in grid["prefill_batch_sizes"]
                for t in grid["prefill_seq_lens"]
            ]
        if "decode" in self.selected_tasks:
            jobs += [
                ("decode", (b, m)) for b in grid["decode_batch_sizes"] for m in config.decode_modes
            ]
        dense = ctx.baseline if config.baseline else None
        details = ctx.method_details or {}
        sides = {"dense": dense, "method": model} if dense is not None else {"method": model}
        compiled_sides: dict[str, Any] = {}
        compile_info: dict[str, Any] = {}
        for i, (kind, args) in enumerate(jobs):
            ideal_value = None
            try:
                if kind == "prefill":
                    b, t, mode = args
                    task = f"prefill/b{b}x{t}" if mode == "eager" else f"prefill-{mode}/b{b}x{t}"
                    timed = sides
                    if mode == "compiled":
                        if not compiled_sides:
                            for name, m in sides.items():
                                compiled_sides[name], compile_info[name] = compile_layers(m)
                        timed = compiled_sides
                    recs = measure_prefill_sides(
                        timed, b, t, device, config.warmup, config.repeats, config.rounds, ctx.seed
                    )
                    if dense is not None:
                        ideal_value, basis = _countable(
                            ideal.prefill_ideal, dense, model, details, t
                        )
                        recs["method"]["ideal_basis"] = basis
                    rec = recs["method"]
                    reps = rec["repeats"]
                    results += [
                        MetricValue(task, "latency_ms", rec["median_ms"], None, rec["repeats"]),
                        MetricValue(task, "latency_p90_ms", rec["p90_ms"], None, rec["repeats"]),
                    ]
                else:
                    b, mode = args
                    p, n = grid["prompt_len"], grid["new_tokens"]
                    task = f"decode-{mode}/b{b}p{p}n{n}"
                    recs = measure_decode_sides(
                        sides,
                        b,
                        p,
                        n,
                        mode,
                        device,
                        1,
                        config.decode_repeats,
                        config.rounds,
                        ctx.seed,
                    )
                    rec = recs["method"]
                    reps = rec["total"]["repeats"]
                    if dense is not None and b == 1:
                        ideal_value = _countable(ideal.decode_ideal, dense, model, details)
                    results += [
                        MetricValue(task, "ttft_ms", rec["ttft_ms"], None, reps),
                        MetricValue(task, "tpot_ms", rec["tpot_ms"], None, reps),
                    ]
            except _oom_errors() as exc:
                errors.append(f"{kind} {args}: out of memory ({str(exc).splitlines()[0]})")
                free_device_memory(device)
                ctx.report("throughput", (i + 1) / len(jobs))
                continue
            results.append(MetricValue(task, "tokens_per_s", rec["tokens_per_s"], None, reps))
            if rec["peak_memory_bytes"] is not None:
                results.append(
                    MetricValue(task, "peak_memory_gib", rec["peak_memory_bytes"] / 2**30)
                )
            if "dense" in recs:
                speedup = rec["tokens_per_s"] / recs["dense"]["tokens_per_s"]
                if kind == "decode" and ideal.decode_equals_dense(details):
                    rec["measured_speedup"] = speedup  # the ratio of two equal workloads: noise
                    speedup = 1.0
                results.append(MetricValue(task, "speedup", speedup, None, reps))
                if ideal_value is not None:
                    results.append(MetricValue(task, "ideal_speedup", ideal_value))
                records.append({"task": task, "side": "dense", **recs["dense"]})
            records.append({"task": task, "side": "method", **rec})
            # one bar for the whole grid (a bar per task never reached 100%)
            ctx.report("throughput", (i + 1) / len(jobs))
        info: dict[str, Any] = {
            "grid": {k: list(v) if isinstance(v, tuple) else v for k, v in grid.items()},
            "errors": errors,
        }
        if skipped:
            info["skipped"] = skipped
        if compile_info:
            info["compiled"] = compile_info
        info["baseline"] = (
            "dense timed in the same process, shape and mode" if dense is not None else "none"
        )
        if lm.info.get("random_weights"):
            info["random_weights"] = True
        return SuiteOutcome(results=results, artifacts={"throughput": records}, info=info)


def _countable(fn: Any, *args: Any) -> Any:
    """``fn(*args)``, or None (with "unknown" for a pair) for models it cannot walk."""
    try:
        return fn(*args)
    except (InvalidInput, AttributeError):
        return (
            (None, "unknown: the model's layers could not be counted")
            if fn is ideal.prefill_ideal
            else None
        )


def free_device_memory(device: Any) -> None:
    """Drop what the previous measurement left (Python garbage, the CUDA cache) before the next."""
    import gc

    gc.collect()
    if is_cuda(device):
        import torch

        torch.cuda.empty_cache()
