"""How the throughput suite times things: prefill, greedy decoding (eager, static cache, CUDA graph).

Kept apart from the suite so benchmarks and tests can call the same measurements directly.
Every timed region is wrapped by ``harness.timing`` (CUDA events on a GPU, a monotonic clock
elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from harness.placement import cuda_devices
from harness.timing import (
    TimingStats,
    is_cuda,
    measure,
    peak_memory_bytes,
    peak_memory_reset,
    synchronize,
)


def devices_in_use(models: dict[str, Any], device: Any) -> list[Any]:
    """``device`` first, then every other CUDA device the models' weights live on (a model
    spread over several GPUs by accelerate); just ``device`` for models on one device."""
    import torch

    main = torch.device(device)
    if main.type == "cuda" and main.index is None:
        main = torch.device("cuda", torch.cuda.current_device())
    others = {d for m in models.values() for d in cuda_devices(m)} - {main}
    return [main, *sorted(others, key=lambda d: d.index)]


def synced(fn: Any, others: list[Any]) -> Any:
    """``fn`` followed by a wait for ``others``: the timer's end event on the main device is
    recorded only once every device has finished its share of the work."""
    if not others:
        return fn

    def call() -> Any:
        out = fn()
        for dev in others:
            synchronize(dev)
        return out

    return call


def random_ids(batch: int, length: int, vocab: int, seed: int, device: Any) -> Any:
    """Token ids drawn uniformly past the first few (special) ids; seeded and reproducible."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    return torch.randint(3, vocab, (batch, length), generator=gen).to(device)


def _shared_inputs(
    models: dict[str, Any], batch: int, length: int, seed: int, device: Any
) -> tuple[Any, list[Any]]:
    """The ids every side runs on (seeded, from the first model's vocabulary) and the devices
    to watch: ``devices_in_use`` on CUDA, else just ``device``."""
    ids = random_ids(batch, length, _vocab(next(iter(models.values()))), seed, device)
    return ids, devices_in_use(models, device) if is_cuda(device) else [device]


def _vocab(model: Any) -> int:
    from methods.layers import text_config

    return int(text_config(model).vocab_size)


def prefill_forward(model: Any, ids: Any) -> Any:
    """One prefill as generation does it: all tokens in, logits of the last position out."""
    return model(input_ids=ids, use_cache=False, logits_to_keep=1).logits


def measure_prefill(
    model: Any, batch: int, seq_len: int, device: Any, warmup: int, repeats: int, seed: int = 0
) -> dict[str, Any]:
    return measure_prefill_sides(
        {"model": model}, batch, seq_len, device, warmup, repeats, 1, seed
    )["model"]


def alternate_rounds(
    sides: dict[str, tuple[Any, ...]],
    device: Any,
    warmup: int,
    repeats: int,
    rounds: int,
    devices: list[Any] | None = None,
) -> tuple[dict[str, list[TimingStats]], dict[str, int | None]]:
    """Time each side's callables in alternating rounds; samples pooled per side and callable.

    Each round warms every callable up and times ``ceil(repeats / rounds)`` calls of it, side
    after side, so slow drifts (clocks, temperature, other tenants) hit every side alike.
    Returns the pooled stats (in the order of each side's callables) and each side's peak
    memory (None off CUDA; summed over ``devices`` for a model spread over several GPUs, whose
    callables must wait for those devices themselves: ``synced``).
    """
    watched = devices or [device]
    per_round = -(-repeats // rounds)
    samples = {name: [[] for _ in fns] for name, fns in sides.items()}
    peaks: dict[str, int | None] = dict.fromkeys(sides)
    for _ in range(rounds):
        for name, fns in sides.items():
            for dev in watched:
                peak_memory_reset(dev)
            for pool, fn in zip(samples[name], fns, strict=True):
                pool += measure(fn, device, warmup, per_round).samples_ms
            found = [peak_memory_bytes(dev) for dev in watched]
            peak = None if found[0] is None else sum(p or 0 for p in found)
            if peak is not None:
                peaks[name] = max(peaks[name] or 0, peak)
    stats = {name: [TimingStats(tuple(p)) for p in pools] for name, pools in samples.items()}
    return stats, peaks


@cache
def warmup_stream(device_index: int) -> Any:
    """One side stream per GPU for every capture's warm-up. cuBLAS keeps a workspace for each
    stream it has run on until the process ends (PyTorch frees them only through a private
    call), so a new stream per capture would raise every later peak by that workspace. In the
    H200 sweep of 2026-12-01 (``results/llama-2-7b-throughput-h200.json``, one process) six of
    the seven runs after dense peaked 64 MiB above the run before: two captures a run, 32 MiB
    each (Hopper's default workspace)."""
    import torch

    return torch.cuda.Stream(device=device_index)


def capture_graph(fn: Any, warmup: int = 2) -> Any:
    """``fn()`` (static inputs) captured as one CUDA graph after ``warmup`` calls on a side
    stream (as capture requires); returns a callable that replays it and returns the captured
    output (rewritten in place by every replay)."""
    import torch

    stream = warmup_stream(torch.cuda.current_device())
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()

    def replay() -> Any:
        graph.replay()
        return out

    return replay


@contextmanager
def unpacked_rows() -> Iterator[None]:
    """Capture the prefill transformers runs outside a capture: one sequence per row.

    transformers looks for packed sequences in the position ids with a data-dependent test that
    it skips while a CUDA stream is capturing (``masking_utils.is_tracing``), and then returns a
    packing mask: inside a capture, every layer gets a materialised causal mask instead of
    ``None`` (SDPA's ``is_causal`` path), so a compiled layer recompiles during the capture (which
    fails: H200, transformers 5.17) and, where it did not, the graph would time another attention
    path than the eager and compiled modes. ``prefill_forward`` never packs sequences, so the
    test's answer outside a capture (no packing) is the answer here too."""
    from unittest import mock

    from transformers import masking_utils

    if not hasattr(masking_utils, "find_packed_sequence_indices"):
        yield
        return
    with mock.patch.object(masking_utils, "find_packed_sequence_indices", return_value=None):
        yield


def graph_prefill(model: Any, ids: Any, warmup: int = 2) -> Any:
    """``prefill_forward(model, ids)`` as a CUDA graph (``capture_graph``): replaying launches
    every kernel of the forward from the GPU's own queue, so a batch-1 prefill whose host cannot
    issue kernels as fast as the GPU runs them is timed by its kernels, on every side alike.
    Warm-up and capture run under ``unpacked_rows``, so both see the same attention masks."""
    with unpacked_rows():
        return capture_graph(lambda: prefill_forward(model, ids), warmup)


def measure_prefill_sides(
    models: dict[str, Any],
    batch: int,
    seq_len: int,
    device: Any,
    warmup: int,
    repeats: int,
    rounds: int = 1,
    seed: int = 0,
    graphs: bool = False,
) -> dict[str, dict[str, Any]]:
    """Prefill records of several models on the same ids, timed by ``alternate_rounds``;
    ``graphs`` replays each side from a CUDA graph (``graph_prefill``; one GPU only, else it
    is ignored and each record's ``graph`` says so)."""
    import torch

    ids, devices = _shared_inputs(models, batch, seq_len, seed, device)
    use_graphs = graphs and is_cuda(device) and len(devices) == 1
    with torch.inference_mode():
        fns = {
            name: (
                graph_prefill(m, ids)
                if use_graphs
                else synced(lambda m=m: prefill_forward(m, ids), devices[1:]),
            )
            for name, m in models.items()
        }
        pooled, peaks = alternate_rounds(fns, device, warmup, repeats, rounds, devices)
    out = {}
    for name in models:
        stats = pooled[name][0]
        out[name] = {
            "batch": batch,
            "seq_len": seq_len,
            **stats.to_dict(),
            "tokens_per_s": batch * seq_len / (stats.median_ms / 1e3),
            "peak_memory_bytes": peaks[name],
            **({"graph": use_graphs} if graphs else {}),
        }
    return out


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
        compile_options: dict[str, Any] | None = None,
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
        self.graph: Any = None  # capture_graph's replay of one step
        self.use_graph = use_graph
        self.step_fn = (
            torch.compile(self._step, dynamic=False, options=compile_options)
            if compile
            else self._step
        )

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
        self.prefill(ids)
        self.graph = capture_graph(self.step_fn)

    def generate(self, ids: Any, steps: int | None = None) -> Any:
        """Prefill ``ids`` and decode; ``steps`` tokens in all (default ``new_tokens``)."""
        steps = self.new_tokens if steps is None else steps
        if self.use_graph and self.graph is None:
            self.capture(ids)
        self.prefill(ids)
        for _ in range(steps - 1):
            if self.graph is not None:
                self.graph()
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
    return measure_decode_sides(
        {"model": model}, batch, prompt_len, new_tokens, mode, device, warmup, repeats, 1, seed
    )["model"]


def measure_decode_sides(
    models: dict[str, Any],
    batch: int,
    prompt_len: int,
    new_tokens: int,
    mode: str,
    device: Any,
    warmup: int,
    repeats: int,
    rounds: int = 1,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Decode records of several models on the same prompt, timed by ``alternate_rounds``:
    first-token and full generations, warmed up at least once (a graph mode captures there)."""
    import torch

    from harness.suites.throughput.fused_projections import extra_bytes, fits, fuse_projections

    ids, devices = _shared_inputs(models, batch, prompt_len, seed, device)
    one_gpu = is_cuda(device) and len(devices) == 1  # a CUDA graph lives on one device
    use_graph = mode != "eager" and one_gpu
    compiled = mode == "graph" and one_gpu
    others = devices[1:]
    fused: dict = {}  # graph mode: Q/K/V and gate/up as one GEMM each, on every side alike
    fuse = compiled and fits(list(models.values()), device)
    if fuse:
        models = {name: fuse_projections(m, fused)[0] for name, m in models.items()}
    fns: dict[str, tuple[Any, Any]] = {}
    for name, model in models.items():
        if mode == "eager":
            fns[name] = (
                synced(lambda m=model: eager_generate(m, ids, 1), others),
                synced(lambda m=model: eager_generate(m, ids, new_tokens), others),
            )
        else:
            dec = StaticDecoder(model, batch, prompt_len, new_tokens, use_graph, compiled)
            fns[name] = (
                synced(lambda d=dec: d.generate(ids, 1), others),
                synced(lambda d=dec: d.generate(ids), others),
            )
    with torch.inference_mode():
        pooled, peaks = alternate_rounds(fns, device, max(warmup, 1), repeats, rounds, devices)
    out = {}
    for name in models:
        ttft, total = pooled[name]
        out[name] = {
            "batch": batch,
            "prompt_len": prompt_len,
            "new_tokens": new_tokens,
            "mode": mode,
            "graph": use_graph,
            "compiled": compiled,
            "fused_projections": fuse,
            "fused_projection_bytes": extra_bytes(fused),
            "ttft": ttft.to_dict(),
            "total": total.to_dict(),
            "ttft_ms": ttft.median_ms,
            "tpot_ms": max(total.median_ms - ttft.median_ms, 0.0) / (new_tokens - 1),
            "tokens_per_s": batch * new_tokens / (total.median_ms / 1e3),
            "peak_memory_bytes": peaks[name],
        }
    return out
