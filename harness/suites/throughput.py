"""Throughput: prefill latency and decode speed as the device sees them.

Prefill is one forward of ``B x T`` random token ids (no KV cache, logits for the last position
only, as generation needs). Decode is greedy generation of exactly ``new_tokens`` tokens after a
``prompt_len`` prompt, EOS ignored, in these modes:

- ``eager``: plain ``model.generate`` (what users of transformers get);
- ``graph``: a static KV cache, prefill run eagerly, then each one-token step compiled by
  ``torch.compile`` (norms, RoPE and activations become a few fused kernels) and replayed from a
  CUDA graph that also writes the argmax back into its own input (no host work between tokens):
  what a serving stack gets. One compile per model and shape;
- ``cudagraph`` (opt-in): ``graph`` without ``torch.compile``, the step's eager kernels replayed
  from the graph, to show what compiling adds.

On CPU both graph modes run the same static-cache loop, uncompiled and without a graph.

TTFT is the median time of prefill plus the first token; time per output token is
``(total - TTFT) / (new_tokens - 1)``; tokens/s is ``B x new_tokens / total``. Every figure is a
median over timed repeats after warm-up (p90 and the samples go to the artifact). Works on
random-weight ``config:`` models: speed depends on the architecture only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from harness.suites.base import (
    MetricSpec,
    MetricValue,
    Suite,
    SuiteConfig,
    SuiteContext,
    SuiteOutcome,
)
from harness.timing import is_cuda, measure, peak_memory_bytes, peak_memory_reset
from skipbench.errors import InvalidInput

Preset = Literal["custom", "sleb", "orthorank"]
DECODE_MODES = ("eager", "graph", "cudagraph")
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
    prompt_len: int = 512
    new_tokens: int = 128
    decode_modes: tuple[str, ...] = ("eager", "graph")
    warmup: int = 2
    repeats: int = 10
    decode_repeats: int = 3

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
        bad_modes = [m for m in self.decode_modes if m not in DECODE_MODES]
        if bad_modes:
            raise InvalidInput(f"decode_modes has {bad_modes}; allowed: {', '.join(DECODE_MODES)}")
        if self.warmup < 0 or self.repeats < 1 or self.decode_repeats < 1:
            raise InvalidInput(
                f"warmup={self.warmup} must be >= 0, repeats and decode_repeats >= 1"
            )

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


def random_ids(batch: int, length: int, vocab: int, seed: int, device: Any) -> Any:
    """Token ids drawn uniformly past the first few (special) ids; seeded and reproducible."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    return torch.randint(3, vocab, (batch, length), generator=gen).to(device)


def _vocab(model: Any) -> int:
    from methods.layers import text_config

    return int(text_config(model).vocab_size)


def prefill_forward(model: Any, ids: Any) -> Any:
    """One prefill as generation does it: all tokens in, logits of the last position out."""
    return model(input_ids=ids, use_cache=False, logits_to_keep=1).logits


def measure_prefill(
    model: Any, batch: int, seq_len: int, device: Any, warmup: int, repeats: int, seed: int = 0
) -> dict[str, Any]:
    import torch

    ids = random_ids(batch, seq_len, _vocab(model), seed, device)
    peak_memory_reset(device)
    with torch.inference_mode():
        stats = measure(lambda: prefill_forward(model, ids), device, warmup, repeats)
    tokens = batch * seq_len
    return {
        "batch": batch,
        "seq_len": seq_len,
        **stats.to_dict(),
        "tokens_per_s": tokens / (stats.median_ms / 1e3),
        "peak_memory_bytes": peak_memory_bytes(device),
    }


def eager_generate(model: Any, ids: Any, new_tokens: int) -> Any:
    """Greedy ``generate`` of exactly ``new_tokens`` tokens (EOS suppressed by min_new_tokens)."""
    import torch

    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        pad_token_id=0,
    )
    if out.shape[1] != ids.shape[1] + new_tokens:
        raise RuntimeError(
            f"generate returned {out.shape[1] - ids.shape[1]} tokens, asked for {new_tokens}"
        )
    return out[:, ids.shape[1] :]


class StaticDecoder:
    """Greedy decoding with a static KV cache; on CUDA each step is a replayed CUDA graph.

    The captured step reads the token buffer, writes the argmax back into it and into the
    output buffer at the step counter, and advances the counter, all on the device.
    """

    def __init__(
        self,
        model: Any,
        batch: int,
        prompt_len: int,
        new_tokens: int,
        use_graph: bool,
        compile: bool = False,
    ) -> None:
        import torch
        from transformers import StaticCache

        self.model, self.new_tokens, self.prompt_len = model, new_tokens, prompt_len
        device = next(model.parameters()).device
        # warm-up steps before capture write up to two positions past the prompt
        self.cache = StaticCache(config=model.config, max_cache_len=prompt_len + max(new_tokens, 3))
        self.tok = torch.zeros(batch, 1, dtype=torch.long, device=device)
        self.out = torch.zeros(batch, new_tokens, dtype=torch.long, device=device)
        self.step_idx = torch.zeros(1, dtype=torch.long, device=device)
        self.graph: Any = None
        self.use_graph = use_graph
        self.step_fn = torch.compile(self._step, dynamic=False) if compile else self._step

    def _rewind(self) -> None:
        """Mark the cache empty without rewriting it (positions are overwritten before use)."""
        import torch

        lengths = [
            getattr(layer, "cumulative_length", None) for layer in getattr(self.cache, "layers", [])
        ]
        if lengths and all(isinstance(n, torch.Tensor) for n in lengths):
            for n in lengths:
                n.zero_()  # type: ignore[union-attr]
        else:
            self.cache.reset()

    def prefill(self, ids: Any) -> None:
        self._rewind()
        logits = self.model(
            input_ids=ids, past_key_values=self.cache, use_cache=True, logits_to_keep=1
        ).logits
        self.tok.copy_(logits[:, -1].argmax(-1, keepdim=True))
        self.out[:, :1].copy_(self.tok)
        self.step_idx.fill_(1)

    def _step(self) -> None:
        logits = self.model(input_ids=self.tok, past_key_values=self.cache, use_cache=True).logits
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        self.tok.copy_(nxt)
        self.out.index_copy_(1, self.step_idx, nxt)
        self.step_idx.add_(1)

    def capture(self, ids: Any) -> None:
        import torch

        self.prefill(ids)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self.step_fn()
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.step_fn()

    def generate(self, ids: Any, steps: int | None = None) -> Any:
        """Prefill ``ids`` and decode; ``steps`` tokens in all (default ``new_tokens``)."""
        steps = self.new_tokens if steps is None else steps
        if self.use_graph and self.graph is None:
            self.capture(ids)
        self.prefill(ids)
        for _ in range(steps - 1):
            if self.graph is not None:
                self.graph.replay()
            else:
                self.step_fn()
        return self.out[:, :steps]


def measure_decode(
    model: Any,
    batch: int,
    prompt_len: int,
    new_tokens: int,
    mode: str,
    device: Any,
    warmup: int,
    repeats: int,
    seed: int = 0,
) -> dict[str, Any]:
    import torch

    ids = random_ids(batch, prompt_len, _vocab(model), seed, device)
    peak_memory_reset(device)
    with torch.inference_mode():
        if mode == "eager":
            first = lambda: eager_generate(model, ids, 1)  # noqa: E731
            full = lambda: eager_generate(model, ids, new_tokens)  # noqa: E731
        else:
            dec = StaticDecoder(
                model,
                batch,
                prompt_len,
                new_tokens,
                use_graph=is_cuda(device),
                compile=mode == "graph" and is_cuda(device),
            )
            first = lambda: dec.generate(ids, 1)  # noqa: E731
            full = lambda: dec.generate(ids)  # noqa: E731
        ttft = measure(first, device, max(warmup, 1), repeats)
        total = measure(full, device, max(warmup, 1), repeats)
    total_s = total.median_ms / 1e3
    return {
        "batch": batch,
        "prompt_len": prompt_len,
        "new_tokens": new_tokens,
        "mode": mode,
        "graph": mode != "eager" and is_cuda(device),
        "compiled": mode == "graph" and is_cuda(device),
        "ttft": ttft.to_dict(),
        "total": total.to_dict(),
        "ttft_ms": ttft.median_ms,
        "tpot_ms": max(total.median_ms - ttft.median_ms, 0.0) / (new_tokens - 1),
        "tokens_per_s": batch * new_tokens / total_s,
        "peak_memory_bytes": peak_memory_bytes(device),
    }


def _oom_errors() -> tuple[type[BaseException], ...]:
    import torch

    return (torch.cuda.OutOfMemoryError,) if hasattr(torch.cuda, "OutOfMemoryError") else ()


class ThroughputSuite(Suite):
    name = "throughput"
    description = "Prefill latency and decode speed (eager and CUDA-graph modes), peak GPU memory"
    tasks = ("prefill", "decode")
    default_tasks = ("prefill", "decode")
    needs_real_weights = False
    metrics = (
        MetricSpec("latency_ms", "Latency (median)", higher_is_better=False, unit="ms"),
        MetricSpec("latency_p90_ms", "Latency (p90)", higher_is_better=False, unit="ms"),
        MetricSpec("tokens_per_s", "Throughput", higher_is_better=True, unit="tokens/s"),
        MetricSpec("ttft_ms", "Time to first token", higher_is_better=False, unit="ms"),
        MetricSpec("tpot_ms", "Time per output token", higher_is_better=False, unit="ms"),
        MetricSpec("peak_memory_gib", "Peak GPU memory", higher_is_better=False, unit="GiB"),
    )
    Config = ThroughputConfig

    def run(self, lm: Any, ctx: SuiteContext) -> SuiteOutcome:
        config = self.config
        assert isinstance(config, ThroughputConfig)
        grid, device, model = config.grid(), lm.device, lm.model
        results: list[MetricValue] = []
        records: list[dict[str, Any]] = []
        errors: list[str] = []
        jobs: list[tuple[str, tuple]] = []
        if "prefill" in self.selected_tasks:
            jobs += [
                ("prefill", (b, t))
                for b in grid["prefill_batch_sizes"]
                for t in grid["prefill_seq_lens"]
            ]
        if "decode" in self.selected_tasks:
            jobs += [
                ("decode", (b, m)) for b in grid["decode_batch_sizes"] for m in config.decode_modes
            ]
        for i, (kind, args) in enumerate(jobs):
            try:
                if kind == "prefill":
                    b, t = args
                    task = f"prefill/b{b}x{t}"
                    rec = measure_prefill(
                        model, b, t, device, config.warmup, config.repeats, ctx.seed
                    )
                    reps = rec["repeats"]
                    results += [
                        MetricValue(task, "latency_ms", rec["median_ms"], None, rec["repeats"]),
                        MetricValue(task, "latency_p90_ms", rec["p90_ms"], None, rec["repeats"]),
                    ]
                else:
                    b, mode = args
                    p, n = grid["prompt_len"], grid["new_tokens"]
                    task = f"decode-{mode}/b{b}p{p}n{n}"
                    rec = measure_decode(
                        model, b, p, n, mode, device, 1, config.decode_repeats, ctx.seed
                    )
                    reps = rec["total"]["repeats"]
                    results += [
                        MetricValue(task, "ttft_ms", rec["ttft_ms"], None, reps),
                        MetricValue(task, "tpot_ms", rec["tpot_ms"], None, reps),
                    ]
            except _oom_errors() as exc:
                errors.append(f"{kind} {args}: out of memory ({str(exc).splitlines()[0]})")
                _free(device)
                continue
            results.append(MetricValue(task, "tokens_per_s", rec["tokens_per_s"], None, reps))
            if rec["peak_memory_bytes"] is not None:
                results.append(
                    MetricValue(task, "peak_memory_gib", rec["peak_memory_bytes"] / 2**30)
                )
            records.append({"task": task, **rec})
            ctx.report(f"throughput/{task}", (i + 1) / len(jobs))
        info: dict[str, Any] = {
            "grid": {k: list(v) if isinstance(v, tuple) else v for k, v in grid.items()},
            "errors": errors,
        }
        if lm.info.get("random_weights"):
            info["random_weights"] = True
        return SuiteOutcome(results=results, artifacts={"throughput": records}, info=info)


def _free(device: Any) -> None:
    import gc

    gc.collect()
    if is_cuda(device):
        import torch

        torch.cuda.empty_cache()
