"""Where a graph-mode decode step spends its time, against the memory floor (GPU).

The throughput suite's ``graph`` decode mode is one ``torch.compile``d step captured as a CUDA
graph. At batch 1 its floor is the bytes it must read (``bytes_read_per_token``: the weights
without the embedding table, plus the KV cache) at the copy bandwidth. This script builds a
random-weight model, captures the step under each ``--variants`` set of Inductor options, and
reports per variant: time per token, the summed kernel time of one replayed step by kind (GEMM,
attention, Triton elementwise, other) from torch.profiler, what is left (launch gaps inside the
graph), and how many of the greedy tokens agree with the first variant's.

    python benchmarks/profile_decode.py --model config:llama-2-7b --batch 1 --prompt 512 \
        --variants default,fused --out decode-profile.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import random_models  # noqa: E402
from harness.suites.throughput.fused_projections import extra_bytes, fuse_projections  # noqa: E402
from harness.suites.throughput.ideal import bytes_read_per_token  # noqa: E402
from harness.suites.throughput.measure import StaticDecoder, random_ids  # noqa: E402
from harness.timing import measure  # noqa: E402

# Per variant: Inductor options, and whether Q/K/V and gate/up run as one GEMM each
# (``harness.suites.throughput.fused_projections``, what the suite's graph mode does).
# ``freezing`` folds the weights into the graph as constants; its concat-linear pass was meant to
# merge those GEMMs too (on 2026-12-01 it did not: the same 677 kernels per step).
VARIANTS: dict[str, tuple[dict[str, Any], bool]] = {
    "default": ({}, False),
    "fused": ({}, True),
    "freezing": ({"freezing": True}, False),
    "cdt": ({"coordinate_descent_tuning": True}, False),
    "fused_cdt": ({"coordinate_descent_tuning": True}, True),
}
KINDS = {
    "gemm": ("gemm", "gemv", "sm90", "cutlass", "nvjet", "cublas", "splitk", "xmma"),
    "attention": ("flash", "fmha", "attention", "sdpa", "efficient"),
    "triton": ("triton",),
}


def kind_of(name: str) -> str:
    low = name.lower()
    for kind, keys in KINDS.items():
        if any(k in low for k in keys):
            return kind
    return "other"


def profile_steps(dec: StaticDecoder, ids: Any, steps: int) -> dict[str, Any]:
    """Kernel time per replayed step, by kind, and the kernel names that cost most."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    dec.prefill(ids)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            dec.graph.replay()
        torch.cuda.synchronize()
    by_kind: dict[str, float] = {}
    by_name: dict[str, float] = {}
    count = 0
    for e in prof.events():
        if e.device_type != torch.autograd.DeviceType.CUDA:
            continue
        count += 1
        by_kind[kind_of(e.name)] = by_kind.get(kind_of(e.name), 0.0) + e.device_time / 1e3
        by_name[e.name] = by_name.get(e.name, 0.0) + e.device_time / 1e3
    top = sorted(by_name.items(), key=lambda kv: -kv[1])[:12]
    return {
        "kernel_ms_per_step": sum(by_kind.values()) / steps,
        "by_kind_ms_per_step": {k: v / steps for k, v in sorted(by_kind.items())},
        "kernels_per_step": count / steps,
        "top_ms_per_step": {k[:90]: v / steps for k, v in top},
    }


def step_wall_ms(dec: StaticDecoder, ids: Any, steps: int) -> float:
    import torch

    dec.prefill(ids)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(steps):
        dec.graph.replay()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / steps


def copy_bandwidth(device: str) -> float:
    import torch

    n = 1 << 30
    a = torch.empty(n, dtype=torch.bfloat16, device=device).normal_()
    b = torch.empty_like(a)
    t = measure(lambda: b.copy_(a), device, 3, 10)
    return 2 * 2 * n / (t.median_ms / 1e3)


def main() -> None:
    import time

    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="config:llama-2-7b")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--variants", default="default,fused")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("profile_decode.py needs a CUDA GPU (graph mode is CUDA-only)")
    dev = "cuda"
    config = random_models.load_config(random_models.config_name(args.model))
    model = random_models.build_model(config, dev, torch.bfloat16, seed=0)
    ids = random_ids(args.batch, args.prompt, config.vocab_size, 0, dev)
    cache_bytes = (  # K and V of every cached position, every layer, read once per step
        2
        * config.num_hidden_layers
        * (args.prompt + args.new_tokens // 2)
        * args.batch
        * config.num_key_value_heads
        * (config.hidden_size // config.num_attention_heads)
        * 2
    )
    weight_bytes = bytes_read_per_token(model)
    bandwidth = copy_bandwidth(dev)
    floor_ms = (weight_bytes + cache_bytes) / bandwidth * 1e3
    report: dict[str, Any] = {
        "model": args.model,
        "batch": args.batch,
        "prompt": args.prompt,
        "new_tokens": args.new_tokens,
        "weight_bytes": weight_bytes,
        "mean_cache_bytes": cache_bytes,
        "copy_bandwidth_Bps": bandwidth,
        "floor_ms": floor_ms,
        "variants": {},
    }
    print(
        f"floor {floor_ms:.3f} ms/token ({weight_bytes / 1e9:.2f} GB weights,"
        f" {cache_bytes / 1e9:.3f} GB cache, {bandwidth / 1e12:.2f} TB/s)",
        flush=True,
    )
    first_tokens = None
    for name in args.variants.split(","):
        torch._dynamo.reset()
        options, fuse = VARIANTS[name]
        shared: dict = {}
        side = fuse_projections(model, shared)[0] if fuse else model
        dec = StaticDecoder(side, args.batch, args.prompt, args.new_tokens, True, True, options)
        with torch.inference_mode():
            t0 = time.perf_counter()
            tokens = dec.generate(ids).clone()
            compile_s = time.perf_counter() - t0
            total = measure(lambda d=dec: d.generate(ids), dev, 1, 5).median_ms
            ttft = measure(lambda d=dec: d.generate(ids, 1), dev, 1, 5).median_ms
            tpot = (total - ttft) / (args.new_tokens - 1)
            wall = step_wall_ms(dec, ids, args.new_tokens - 1)
            prof = profile_steps(dec, ids, args.new_tokens - 1)
        first_tokens = tokens if first_tokens is None else first_tokens
        entry = {
            "options": options,
            "fused_projections": fuse,
            "fused_projection_bytes": extra_bytes(shared),
            "compile_and_capture_s": compile_s,
            "tpot_ms": tpot,
            "replay_ms_per_step": wall,
            "of_floor": floor_ms / tpot,
            "gaps_ms_per_step": wall - prof["kernel_ms_per_step"],
            "tokens_agree_with_first": float((tokens == first_tokens).float().mean()),
            "peak_memory_bytes": torch.cuda.max_memory_allocated(),
            **prof,
        }
        report["variants"][name] = entry
        print(f"== {name}: " + json.dumps(entry), flush=True)
        del dec, side, shared
        torch.cuda.empty_cache()
    from harness import provenance

    report["provenance"] = provenance.collect(dev)
    print(json.dumps({k: v for k, v in report.items() if k != "provenance"}))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
