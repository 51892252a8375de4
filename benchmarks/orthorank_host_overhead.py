"""Is an OrthoRank selective layer bound by the host (Python, launches) or by the GPU?

For one selective layer of a random-weight model at B x T, per ``kernel=`` value: the host
time to issue the layer (wall clock, no sync, the GPU idle so nothing blocks), the GPU time
of the same call (CUDA events), the number of kernels it launches, and the ops that take the
most host time (torch.profiler, CPU self time). A layer whose host time exceeds its GPU time
cannot run at the GPU's speed unless earlier layers left the host a lead.

    python benchmarks/orthorank_host_overhead.py --model config:llama-2-7b --shape 1x2048
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import random_models  # noqa: E402
from harness.suites.throughput.measure import random_ids  # noqa: E402


def host_and_gpu_ms(fn: Any, repeats: int) -> tuple[float, float]:
    """Median host issue time and median GPU time of ``fn`` over ``repeats`` calls."""
    import torch

    host, gpu = [], []
    if not torch.cuda.is_available():  # CPU smoke run: both are the wall clock
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            host.append((time.perf_counter() - t0) * 1e3)
        return sorted(host)[len(host) // 2], sorted(host)[len(host) // 2]
    for _ in range(repeats):
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        t0 = time.perf_counter()
        start.record()
        fn()
        end.record()
        host.append((time.perf_counter() - t0) * 1e3)
        torch.cuda.synchronize()
        gpu.append(start.elapsed_time(end))
    return sorted(host)[len(host) // 2], sorted(gpu)[len(gpu) // 2]


def profile_ops(fn: Any, rows: int) -> tuple[int, list[dict[str, Any]]]:
    """(kernels launched per call, the ops with the most CPU self time per call)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.cuda.is_available()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    if cuda:
        torch.cuda.synchronize()
    with profile(activities=activities) as prof:
        fn()
        if cuda:
            torch.cuda.synchronize()
    kernels = sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)
    avg = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:rows]
    ops = [
        {"op": e.key[:60], "calls": e.count, "self_cpu_us": round(e.self_cpu_time_total, 1)}
        for e in avg
    ]
    return kernels, ops


def main(argv: list[str] | None = None) -> int:
    import torch

    from methods.base import ApplyContext
    from methods.layers import decoder_layers
    from methods.registry import get_method

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="config:llama-2-7b")
    ap.add_argument("--shape", default="1x2048")
    ap.add_argument("--layers", type=int, default=4, help="decoder layers to build (speed)")
    ap.add_argument("--kernels", default="reference,flex,fused")
    ap.add_argument("--keep-ratio", type=float, default=0.33)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"  # CPU: a smoke run only
    name = random_models.config_name(args.model)
    config = random_models.load_config(name, num_hidden_layers=args.layers)
    batch, seq = (int(x) for x in args.shape.split("x"))
    base = random_models.build_model(config, device, torch.bfloat16, seed=0)
    ids = random_ids(batch, seq, config.vocab_size, 0, device)
    with torch.inference_mode():
        h = base.model.embed_tokens(ids)
        pos = base.model.rotary_emb(h, torch.arange(seq, device=device)[None])
    rows: list[dict[str, Any]] = []
    layer = decoder_layers(base)[1]
    dense = lambda: type(layer).forward(layer, h, position_embeddings=pos)  # noqa: E731
    cls = get_method("orthorank")
    variants: dict[str, Any] = {"dense": dense}
    for kernel in args.kernels.split(","):
        params = {"layers": "1", "keep_ratio": args.keep_ratio, "kernel": kernel}
        model = cls(cls.Config.from_params(params)).apply(base, ApplyContext()).model
        sel = decoder_layers(model)[1]
        variants[kernel] = lambda s=sel: s(h, position_embeddings=pos)  # measured right away
        with torch.inference_mode():
            for _ in range(3):
                variants[kernel]()  # compiles and warms up
            host, gpu = host_and_gpu_ms(variants[kernel], args.repeats)
            kernels, ops = profile_ops(variants[kernel], args.top)
        rows.append({"variant": kernel, "host_ms": host, "gpu_ms": gpu, "kernels": kernels})
        rows[-1]["top_host_ops"] = ops
    with torch.inference_mode():
        for _ in range(3):
            dense()
        host, gpu = host_and_gpu_ms(dense, args.repeats)
        kernels, ops = profile_ops(dense, args.top)
    rows.insert(0, {"variant": "dense", "host_ms": host, "gpu_ms": gpu, "kernels": kernels})
    rows[0]["top_host_ops"] = ops
    print(f"\n{'variant':<12}{'host ms':>10}{'gpu ms':>10}{'kernels':>10}")
    for r in rows:
        print(f"{r['variant']:<12}{r['host_ms']:>10.3f}{r['gpu_ms']:>10.3f}{r['kernels']:>10}")
    for r in rows:
        print(f"\n{r['variant']}: top host ops (CPU self us per call)")
        for op in r["top_host_ops"]:
            print(f"  {op['op']:<60}{op['calls']:>6}{op['self_cpu_us']:>10}")
    out = {"model": args.model, "shape": args.shape, "keep_ratio": args.keep_ratio, "rows": rows}
    out["device"] = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(json.dumps({r["variant"]: [round(r["host_ms"], 3), round(r["gpu_ms"], 3)] for r in rows}))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
