"""Where an OrthoRank selective layer spends its time, against a dense layer (GPU).

For one decoder layer of a random-weight model (real hidden states captured at its input):
times the dense forward (eager, and ``torch.compile``d as the throughput suite's ``compiled``
mode runs it), the reference selective forward (``methods.orthorank.reference``), the
FlexAttention variant (``methods.orthorank.flex``, plain and ``fused=True``) and the two compiled
regions of ``kernel=fused`` (``methods.orthorank.fused``, what ``kernel=auto`` runs on CUDA) at
each ``--shapes`` B x T; compares each time with the FLOP ratio (the ideal, against the eager and
the compiled dense layer); checks the selective outputs against a float32 computation of the
same layer; and with ``--profile`` prints the top CUDA kernels of each from torch.profiler with
the summed kernel time per call (wall minus kernel time is launch gaps and host waits).

    python benchmarks/profile_orthorank.py --shapes 1x2048,32x2048 --profile --out prof.json

``--flex-options``, ``--kv-splits 2,4`` and ``--one-region`` time ``kernel=fused`` under other
FlexAttention settings. ``--idle`` adds, for the compiled dense layer and ``kernel=fused``, where
the wall time beyond the kernel time goes (host-side CUDA runtime calls, allocator counters,
CUDA-graph replay).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import random_models  # noqa: E402
from harness.suites.throughput.measure import capture_graph, random_ids  # noqa: E402
from harness.timing import measure  # noqa: E402


class _Stop(Exception):
    pass


def layer_inputs(model: Any, layer_idx: int, ids: Any) -> tuple[Any, dict[str, Any]]:
    """The hidden states and keyword arguments the model passes to layer ``layer_idx``."""
    from methods.layers import decoder_layers

    got: dict[str, Any] = {}

    def hook(module: Any, args: tuple, kwargs: dict) -> None:
        got["h"] = args[0] if args else kwargs.pop("hidden_states")
        got["kw"] = {k: v for k, v in kwargs.items() if k != "hidden_states"}
        raise _Stop

    handle = decoder_layers(model)[layer_idx].register_forward_pre_hook(hook, with_kwargs=True)
    try:
        with contextlib.suppress(_Stop):
            model(input_ids=ids, use_cache=False)
    finally:
        handle.remove()
    return got["h"], got["kw"]


def profiled(fn: Any, calls: int) -> Any:
    """torch.profiler (CPU and CUDA activity) over ``calls`` calls of ``fn``, device synced."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    return prof


def top_kernels(fn: Any, rows: int = 16, calls: int = 3) -> tuple[str, float, int]:
    """(the profiler's table, summed CUDA kernel time per call in ms, kernels per call)."""
    import torch

    for _ in range(2):
        fn()
    prof = profiled(fn, calls)
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    kernel_ms = sum(e.device_time for e in kernels) / 1e3 / calls
    table = prof.key_averages().table(
        sort_by="cuda_time_total", row_limit=rows, max_name_column_width=70
    )
    return table, kernel_ms, len(kernels) // calls


# CUDA caching-allocator counters whose growth during steady-state calls means the host blocked
# in cudaMalloc / cudaFree (or synchronised all streams) inside the timed region
ALLOCATOR_COUNTERS = (
    "num_device_alloc",
    "num_device_free",
    "num_alloc_retries",
    "num_sync_all_streams",
)


def counter_deltas(before: dict[str, Any], after: dict[str, Any], calls: int) -> dict[str, float]:
    """Per-call growth of ``ALLOCATOR_COUNTERS`` between two ``torch.cuda.memory_stats()``."""
    return {k: (after.get(k, 0) - before.get(k, 0)) / calls for k in ALLOCATOR_COUNTERS}


def runtime_summary(events: list[tuple[str, float]], calls: int) -> dict[str, dict[str, float]]:
    """Host-side CUDA runtime calls (name, microseconds) -> per call: count and milliseconds,
    largest time first. ``cudaLaunchKernel`` is there too: its count is the launches per call."""
    out: dict[str, dict[str, float]] = {}
    for name, us in events:
        row = out.setdefault(name, {"count": 0.0, "ms": 0.0})
        row["count"] += 1 / calls
        row["ms"] += us / 1e3 / calls
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["ms"]))


def idle_probe(fn: Any, dev: str, calls: int = 5) -> dict[str, Any]:
    """Why a call's wall time exceeds its kernel time (GPU): the host-side CUDA runtime calls
    (cudaMalloc, cudaFree, synchronisations, launches) and the allocator counters per steady-state
    call, and the same call replayed from a CUDA graph (no host work, no allocation; a call that
    synchronises cannot be captured, and the error says where)."""
    import torch

    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    before = torch.cuda.memory_stats()
    prof = profiled(fn, calls)
    after = torch.cuda.memory_stats()
    runtime = [
        (e.name, e.cpu_time_total)
        for e in prof.events()
        if e.device_type == torch.autograd.DeviceType.CPU and e.name.startswith("cuda")
    ]
    probe: dict[str, Any] = {
        "runtime_calls": runtime_summary(runtime, calls),
        "allocator_per_call": counter_deltas(before, after, calls),
    }
    try:
        probe["graph_replay_ms"] = measure(capture_graph(fn, warmup=1), dev, 3, 20).median_ms
    except Exception as exc:  # noqa: BLE001 - the reason is the measurement
        probe["graph_capture_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    return probe


def parse_options(text: str) -> dict[str, dict[str, int]]:
    """``"BLOCK_M=64,BLOCK_N=64;BLOCK_M=64"`` -> named FlexAttention kernel-option sets."""
    sets: dict[str, dict[str, int]] = {}
    for item in filter(None, text.split(";")):
        opts = {k: int(v) for k, v in (kv.split("=") for kv in item.split(","))}
        sets[item] = opts
    return sets


def topk_in_order(key: Any, k: int) -> Any:
    """The selection the fused region used before ``smallest_in_order``: top-k, then a sort."""
    return key.topk(k, dim=1, largest=False, sorted=False).indices.sort(dim=1).values


def fused_alternatives(layer: Any, settings: Any, h: Any, kw: dict, dev: str, args: Any) -> dict:
    """Time ``kernel=fused`` with the old top-k selection, under each FlexAttention option set,
    each key-chunk count and as one region (each recompiles); the module's settings are restored
    afterwards."""
    import torch

    from methods.orthorank import fused
    from methods.orthorank.ops import clear_compiled

    def timed() -> float:
        torch._dynamo.reset()
        clear_compiled()
        fn = lambda: fused.fused_forward(layer, settings, h, **kw)  # noqa: E731
        measure(fn, dev, 3, 10)
        return measure(fn, dev, 1, 20).median_ms

    # each alternative: (label, the module attributes it replaces), timed one after another
    variants: list[tuple[str, dict[str, Any]]] = [
        ("topk_selection", {"smallest_in_order": topk_in_order})
    ]
    options = {"flex_defaults": {}, **parse_options(args.flex_options or "")}
    variants += [(name, {"FLEX_KERNEL_OPTIONS": opts}) for name, opts in options.items()]
    splits = filter(None, (args.kv_splits or "").split(","))
    variants += [(f"kv_splits={n}", {"FLEX_KV_SPLITS": int(n)}) for n in splits]
    if args.one_region:
        variants.append(("one_region", {"FUSED_REGIONS": 1}))
    saved = {name: getattr(fused, name) for _, changes in variants for name in changes}

    def restore() -> None:
        for name, value in saved.items():
            setattr(fused, name, value)

    out: dict[str, float] = {}
    try:
        for label, changes in variants:
            for name, value in changes.items():
                setattr(fused, name, value)
            if "FLEX_KV_SPLITS" in changes and fused.kv_splits(h.shape[0], h.shape[1]) == 1:
                label += " (not applied)"
            out[label] = timed()
            restore()
    finally:
        restore()
        torch._dynamo.reset()
        clear_compiled()
    return out


def rel(a: Any, b: Any) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


def main() -> None:
    import torch

    from methods.orthorank.flex import flex_covers, flex_forward
    from methods.orthorank.flops import layer_flops
    from methods.orthorank.fused import fused_covers, fused_forward
    from methods.orthorank.reference import reference_forward as selective_forward
    from methods.orthorank.selection import Selective, keep_count

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="config:llama-2-7b")
    ap.add_argument("--layer", type=int, default=20)
    ap.add_argument("--shapes", default="1x2048,32x2048")
    ap.add_argument("--keep-ratio", type=float, default=0.33)
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--profile", action="store_true", help="print the top CUDA kernels of each variant"
    )
    ap.add_argument("--tiny", action="store_true", help="CPU smoke run on a shrunken config")
    ap.add_argument(
        "--idle",
        action="store_true",
        help="per variant: host-side CUDA runtime calls, allocator counters and CUDA-graph "
        "replay time, to say where wall time exceeds kernel time (GPU)",
    )
    ap.add_argument(
        "--flex-options",
        default=None,
        help="also time kernel=fused with the old top-k selection and under these FlexAttention "
        "kernel-option sets, e.g. 'BLOCK_M=64,BLOCK_N=64;BLOCK_M=64,BLOCK_N=128' (GPU)",
    )
    ap.add_argument(
        "--kv-splits",
        default=None,
        help="also time kernel=fused with the keys of its attention cut into these numbers of "
        "chunks (methods.orthorank.fused.FLEX_KV_SPLITS; batch 1 only), e.g. '2,4' (GPU)",
    )
    ap.add_argument(
        "--one-region",
        action="store_true",
        help="also time kernel=fused as one compiled region (methods.orthorank.fused."
        "FUSED_REGIONS = 1) (GPU)",
    )
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    tiny = dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=512,
    )
    config = random_models.load_config(
        random_models.config_name(args.model), **(tiny if args.tiny else {})
    )
    model = random_models.build_model(config, dev, torch.bfloat16, seed=0)
    layer = model.model.layers[args.layer]
    settings = Selective(keep_ratio=args.keep_ratio)
    dense_fwd = type(layer).forward
    layer32 = copy.deepcopy(layer).float()
    compiled_layer = copy.deepcopy(layer)  # the throughput suite's compiled mode, for one layer
    if dev == "cuda":
        compiled_layer.compile(dynamic=False)
    assert fused_covers(layer, settings), "the layer is not one the fused kernel covers"
    selective = ("reference", "flex", "flex_fused", "fused")
    report: dict[str, Any] = {"layer": args.layer, "keep_ratio": args.keep_ratio, "shapes": {}}
    with torch.inference_mode():
        for shape in args.shapes.split(","):
            b, t = (int(x) for x in shape.split("x"))
            h, kw = layer_inputs(model, args.layer, random_ids(b, t, config.vocab_size, 0, dev))
            assert flex_covers(layer, settings, h, kw), "the layer inputs are off the fast path"
            fns = {
                "dense": lambda h=h, kw=kw: dense_fwd(layer, h, **kw),
                "dense_compiled": lambda h=h, kw=kw: compiled_layer(h, **kw),
                "reference": lambda h=h, kw=kw: selective_forward(layer, settings, h, **kw),
                "flex": lambda h=h, kw=kw: flex_forward(layer, settings, h, **kw),
                "flex_fused": lambda h=h, kw=kw: flex_forward(layer, settings, h, fused=True, **kw),
                "fused": lambda h=h, kw=kw: fused_forward(layer, settings, h, **kw),
            }
            times = {k: measure(f, dev, 3, 20).median_ms for k, f in fns.items()}
            times = {
                k: measure(f, dev, 1, 20).median_ms for k, f in fns.items()
            }  # second pass: settled
            k = keep_count(args.keep_ratio, t)
            ratio = layer_flops(config, t, k) / layer_flops(config, t)
            ideal = times["dense"] * ratio
            ideal_compiled = times["dense_compiled"] * ratio
            kw32 = {
                **kw,
                "position_embeddings": tuple(x.float() for x in kw["position_embeddings"]),
            }
            exact = selective_forward(layer32, settings, h.float(), **kw32)
            outs = {k: fns[k]() for k in selective}
            entry = {
                "ms": times,
                "flop_ratio": ratio,
                "ideal_selective_ms": ideal,
                "ideal_selective_ms_compiled": ideal_compiled,
                "of_ideal": {k: ideal / times[k] for k in selective},
                "of_ideal_compiled": {k: ideal_compiled / times[k] for k in selective},
                "rel_err_vs_fp32": {k: rel(v, exact) for k, v in outs.items()},
                "rel_err_vs_reference": {k: rel(outs[k], outs["reference"]) for k in selective[1:]},
            }
            report["shapes"][shape] = entry
            print(f"== {shape}: " + json.dumps(entry), flush=True)
            if dev == "cuda" and args.profile:
                kernel_ms = {}
                for name, fn in fns.items():
                    table, kernel_ms[name], count = top_kernels(fn)
                    report["shapes"][shape][f"profile_{name}"] = table
                    print(
                        f"--- {shape} {name}: {kernel_ms[name]:.3f} ms of kernels in {count}"
                        f" launches, {times[name]:.3f} ms wall\n{table}",
                        flush=True,
                    )
                entry["kernel_ms"] = kernel_ms
            if dev == "cuda" and args.idle:
                entry["idle"] = {}
                for name in ("dense_compiled", "fused"):
                    entry["idle"][name] = idle_probe(fns[name], dev)
                    print(
                        f"--- {shape} {name} idle: " + json.dumps(entry["idle"][name]), flush=True
                    )
        alternatives = (args.flex_options, args.kv_splits, args.one_region or None)
        if dev == "cuda" and any(a is not None for a in alternatives):
            for shape in args.shapes.split(","):
                b, t = (int(x) for x in shape.split("x"))
                h, kw = layer_inputs(model, args.layer, random_ids(b, t, config.vocab_size, 0, dev))
                alt = fused_alternatives(layer, settings, h, kw, dev, args)
                report["shapes"][shape]["fused_alternatives_ms"] = alt
                print(f"== {shape} fused alternatives: " + json.dumps(alt), flush=True)
    from harness import provenance

    report["provenance"] = provenance.collect(dev)
    report["model"], report["dtype"] = args.model, "bfloat16"
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
