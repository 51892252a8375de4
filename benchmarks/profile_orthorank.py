"""Where an OrthoRank selective layer spends its time, against a dense layer (GPU).

For one decoder layer of a random-weight model (real hidden states captured at its input):
times the dense forward, the reference selective forward (``methods.orthorank.reference``) and the
FlexAttention variant (``methods.orthorank.flex``) at each ``--shapes`` B x T; compares their
time with the FLOP ratio (the ideal); checks both selective outputs against a float32
computation of the same layer; and prints the top CUDA kernels of each from torch.profiler.
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
from harness.suites.throughput.measure import random_ids  # noqa: E402
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


def top_kernels(fn: Any, rows: int = 14) -> str:
    import torch
    from torch.profiler import ProfilerActivity, profile

    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
    return prof.key_averages().table(
        sort_by="cuda_time_total", row_limit=rows, max_name_column_width=60
    )


def rel(a: Any, b: Any) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


def main() -> None:
    import torch

    from methods.orthorank.flex import flex_covers, flex_forward
    from methods.orthorank.flops import layer_flops
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
    report: dict[str, Any] = {"layer": args.layer, "keep_ratio": args.keep_ratio, "shapes": {}}
    with torch.inference_mode():
        for shape in args.shapes.split(","):
            b, t = (int(x) for x in shape.split("x"))
            h, kw = layer_inputs(model, args.layer, random_ids(b, t, config.vocab_size, 0, dev))
            assert flex_covers(layer, settings, h, kw), "the layer inputs are off the fast path"
            fns = {
                "dense": lambda h=h, kw=kw: dense_fwd(layer, h, **kw),
                "reference": lambda h=h, kw=kw: selective_forward(layer, settings, h, **kw),
                "flex": lambda h=h, kw=kw: flex_forward(layer, settings, h, **kw),
                "fused": lambda h=h, kw=kw: flex_forward(layer, settings, h, fused=True, **kw),
            }
            times = {k: measure(f, dev, 3, 20).median_ms for k, f in fns.items()}
            times = {
                k: measure(f, dev, 1, 20).median_ms for k, f in fns.items()
            }  # second pass: settled
            k = keep_count(args.keep_ratio, t)
            ratio = layer_flops(config, t, k) / layer_flops(config, t)
            ideal = times["dense"] * ratio
            kw32 = {
                **kw,
                "position_embeddings": tuple(x.float() for x in kw["position_embeddings"]),
            }
            exact = selective_forward(layer32, settings, h.float(), **kw32)
            outs = {k: fns[k]() for k in ("reference", "flex", "fused")}
            entry = {
                "ms": times,
                "flop_ratio": ratio,
                "ideal_selective_ms": ideal,
                "of_ideal": {k: ideal / times[k] for k in ("reference", "flex", "fused")},
                "rel_err_vs_fp32": {k: rel(v, exact) for k, v in outs.items()},
                "rel_err_vs_reference": {
                    k: rel(outs[k], outs["reference"]) for k in ("flex", "fused")
                },
            }
            report["shapes"][shape] = entry
            print(f"== {shape}: " + json.dumps(entry), flush=True)
            if dev == "cuda" and args.profile:
                for name, fn in fns.items():
                    table = top_kernels(fn)
                    report["shapes"][shape][f"profile_{name}"] = table
                    print(f"--- {shape} {name}\n{table}", flush=True)
    from harness import provenance

    report["provenance"] = provenance.collect(dev)
    report["model"], report["dtype"] = args.model, "bfloat16"
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
