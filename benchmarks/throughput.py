"""Side-by-side speed of dense, layer removal and OrthoRank on one random-weight model.

Everything is measured in one process on one model: dense first, then each method applied to a
fresh copy of the same weights, in alternating rounds so that clock drift hits both sides alike.
Sections (``--sections``):

- ``ceilings``: device-to-device copy bandwidth (bytes read + written) and a bf16 matmul rate;
- ``table``: the issue-17 table (``benchmarks/throughput_table.py``): every registered layer-removal
  and sublayer method at ``--sparsity`` (one variant per structure) and OrthoRank, prefill in
  each of ``--table-modes`` (``eager``; ``compiled``: every decoder layer that is not a method's
  own kernel compiled, on every side; ``compiled-graph``: the same, each side's prefill replayed
  from one CUDA graph, so a host-bound batch-1 prefill is timed by its kernels), each with its
  ideal and the ratio to it;
- ``longctx``: decode at long prompts (``--long-prompts`` x ``--long-batches``) for
  ``--long-variants``: TTFT, time per token, peak memory, KV-cache bytes per token, and the
  largest batch under ``--budget-gib``;
- ``prefill``: B x T prefill latency for dense, layer removal (n layers) and OrthoRank;
- ``decode``: eager and graph decode for dense and layer removal; the memory floor per token;
- ``perplexity``: the perplexity suite's loop vs a bare forward over the same windows;
- ``sleb``: SLEB's search time (fewer calibration samples, scaled linearly) vs naive and
  exhaustive search, both estimated from measured full evaluations.

Runs on whatever device it finds (CPU runs use ``--tiny``-sized shapes). Prints a table and a
final JSON line; ``--out`` writes the JSON with provenance.

    python benchmarks/throughput.py --model config:llama-2-7b --sections ceilings,prefill,decode \
        --orthorank "sparsity=0.2;layers=last" --orthorank-kernels auto,reference --out run.json
    python benchmarks/throughput.py --tiny --prefill 1x64 --decode 1x16x8   # CPU smoke run
    python benchmarks/throughput.py --sections ceilings,table,decode,longctx \
        --orthorank "sparsity=0.2;layers=last" --out benchmarks/results/<date>-h200-table.json
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import throughput_table as table  # noqa: E402

from harness import random_models  # noqa: E402
from harness.models import same_weights_copy  # noqa: E402
from harness.suites.throughput import suite as tp  # noqa: E402
from harness.suites.throughput.measure import alternate_rounds, graph_prefill  # noqa: E402
from harness.timing import TimingStats, measure, synchronize  # noqa: E402
from methods.layers import num_decoder_layers, remove_layers, text_config  # noqa: E402

TABLE_MODES = ("eager", "compiled", "compiled-graph")
TINY = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=8,
    num_attention_heads=4,
    num_key_value_heads=4,
    vocab_size=512,
)


def parse_shapes(text: str) -> list[tuple[int, int]]:
    return [tuple(int(x) for x in s.split("x")) for s in text.split(",") if s]  # type: ignore[misc]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def ceilings(device: str) -> dict[str, Any]:
    import torch

    if not device.startswith("cuda"):
        return {}
    n = 1 << 30  # 1 Gi bf16 elements = 2 GiB
    a = torch.empty(n, dtype=torch.bfloat16, device=device).normal_()
    b = torch.empty_like(a)
    copy_t = measure(lambda: b.copy_(a), device, 3, 10)
    m = 8192
    x = torch.randn(m, m, dtype=torch.bfloat16, device=device)
    y = torch.randn(m, m, dtype=torch.bfloat16, device=device)
    mm = measure(lambda: x @ y, device, 3, 10)
    w = torch.randn(32768, 32768, dtype=torch.bfloat16, device=device)  # 2 GiB, read once per GEMV
    v = torch.randn(32768, 1, dtype=torch.bfloat16, device=device)
    gemv = measure(lambda: w @ v, device, 3, 10)
    return {
        "gemv_read_Bps": w.numel() * 2 / (gemv.median_ms / 1e3),
        "copy_bytes": 2 * 2 * n,
        "copy_bandwidth_Bps": 2 * 2 * n / (copy_t.median_ms / 1e3),
        "matmul_bf16_flops": 2 * m**3 / (mm.median_ms / 1e3),
    }


def removal_indices(total: int, n: int) -> list[int]:
    """n deep layers, keeping the last one (where block-influence methods usually cut)."""
    return list(range(total - 1 - n, total - 1))


def orthorank_variant(model: Any, params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    from methods.base import ApplyContext
    from methods.registry import get_method

    cls = get_method("orthorank")
    method = cls(cls.Config.from_params(params))
    outcome = method.apply(same_weights_copy(model), ApplyContext())
    return outcome.model, outcome.details


def prefill_flops(config: Any, batch: int, seq: int, layers: int) -> float:
    """Matmul FLOPs of a prefill: decoder layers (causal attention) + LM head on the last token."""
    d, i, h = config.hidden_size, config.intermediate_size, config.num_attention_heads
    kvh = getattr(config, "num_key_value_heads", None) or h
    hd = getattr(config, "head_dim", None) or d // h
    per_token = 2 * d * (2 * h * hd + 2 * kvh * hd) + 6 * d * i
    attn = 4 * h * hd * seq * (seq + 1) / 2
    return batch * (layers * (seq * per_token + attn) + 2 * d * config.vocab_size)


def alternate(
    fns: dict[str, Any], device: str, warmup: int, repeats: int, rounds: int
) -> dict[str, TimingStats]:
    """Time each fn in alternating rounds, ``repeats`` calls per round; pooled per name."""
    sides = {name: (fn,) for name, fn in fns.items()}
    stats, _ = alternate_rounds(sides, device, warmup, repeats * rounds, rounds)
    return {name: pooled[0] for name, pooled in stats.items()}


def section_prefill(models: dict[str, Any], shapes, device, args) -> list[dict[str, Any]]:
    import torch

    rows = []
    for b, t in shapes:
        try:
            recs = tp.measure_prefill_sides(
                models, b, t, device, args.warmup, args.repeats * args.rounds, args.rounds
            )
        except torch.cuda.OutOfMemoryError as exc:
            rows.append(
                {"batch": b, "seq_len": t, "error": f"out of memory: {str(exc).splitlines()[0]}"}
            )
            torch.cuda.empty_cache()
            continue
        dense_ms = recs["dense"]["median_ms"]
        for name, rec in recs.items():
            rows.append(
                {
                    "section": "prefill",
                    "variant": name,
                    **rec,
                    "speedup": dense_ms / rec["median_ms"],
                }
            )
        log(
            f"prefill {b}x{t}: "
            + ", ".join(f"{k} {v['median_ms']:.2f} ms" for k, v in recs.items())
        )
    return rows


def section_prefill_graph(models: dict[str, Any], shapes, device, args) -> list[dict[str, Any]]:
    """Prefill replayed from CUDA graphs, every variant alike: launch overhead out of the picture."""
    import torch

    rows = []
    vocab = text_config(models["dense"]).vocab_size
    for b, t in shapes:
        ids = tp.random_ids(b, t, vocab, 0, device)
        fns = {}
        with torch.inference_mode():
            for name, m in models.items():
                try:
                    fns[name] = graph_prefill(m, ids, warmup=3)
                except Exception as exc:  # noqa: BLE001 - a variant that cannot be captured is reported
                    rows.append(
                        {
                            "variant": name + "_graph",
                            "batch": b,
                            "seq_len": t,
                            "error": f"{type(exc).__name__}: {exc}",
                        }
                    )
                    log(f"graph capture of {name} failed: {exc}")
            stats = alternate(fns, device, args.warmup, args.repeats * 4, args.rounds)
        dense_ms = stats["dense"].median_ms
        for name, st in stats.items():
            rows.append(
                {
                    "section": "prefill_graph",
                    "variant": name + "_graph",
                    "batch": b,
                    "seq_len": t,
                    **st.to_dict(),
                    "tokens_per_s": b * t / (st.median_ms / 1e3),
                    "speedup": dense_ms / st.median_ms,
                }
            )
        log(
            f"graphed prefill {b}x{t}: "
            + ", ".join(f"{k} {v.median_ms:.2f} ms" for k, v in stats.items())
        )
    return rows


def section_decode(models: dict[str, Any], shapes, modes, device, args) -> list[dict[str, Any]]:
    rows = []
    for b, p, n in shapes:
        for mode in modes:
            recs = {}
            try:
                for name, m in models.items():
                    recs[name] = tp.measure_decode(m, b, p, n, mode, device, 1, args.decode_repeats)
            except Exception as exc:  # noqa: BLE001 - e.g. a graph capture that fails: record, go on
                import traceback

                rows.append(
                    {
                        "section": "decode",
                        "mode": mode,
                        "batch": b,
                        "error": traceback.format_exc()[-3000:],
                    }
                )
                log(f"decode {mode} b{b} FAILED: {type(exc).__name__}: {exc}")
                tp.free_device_memory(device)
                continue
            for name, r in recs.items():
                rows.append(
                    {
                        "section": "decode",
                        "variant": name,
                        **{k: v for k, v in r.items()},
                        "speedup_tokens_per_s": r["tokens_per_s"] / recs["dense"]["tokens_per_s"],
                    }
                )
            log(
                f"decode {mode} b{b} p{p} n{n}: "
                + ", ".join(
                    f"{k} tpot {v['tpot_ms']:.2f} ms ttft {v['ttft_ms']:.1f} ms"
                    for k, v in recs.items()
                )
            )
    return rows


def section_perplexity(
    model: Any, tokenizer: Any, device: str, windows: int, seq_len: int
) -> dict[str, Any]:
    """The perplexity suite's run() on synthetic text vs a bare forward loop over the same windows."""
    import random

    import torch

    from harness import data
    from harness.models import LoadedModel
    from harness.suites.base import SuiteContext
    from harness.suites.perplexity.suite import PerplexityConfig, PerplexitySuite
    from harness.tokens import tokenize_text
    from harness.tokens import windows as cut

    rng = random.Random(0)
    text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(windows * seq_len + 8))
    data.EVAL_TEXTS["wikitext2"] = lambda source: data.TextData(
        "wikitext2", "synthetic", text, "synthetic", {}
    )
    lm = LoadedModel(model, tokenizer, None, {})
    suite = PerplexitySuite(PerplexityConfig(seq_len=seq_len, batch_size=1, limit=windows))
    wins = cut(tokenize_text(tokenizer, text), seq_len, windows)

    def bare() -> None:
        with torch.inference_mode():
            for w in wins:
                model(input_ids=w[None].to(device), use_cache=False)

    def run_suite() -> None:
        suite.run(lm, SuiteContext())

    stats = alternate({"bare": bare, "suite": run_suite}, device, 1, 2, 2)
    tokens = windows * seq_len
    out = {
        k: {**v.to_dict(), "tokens_per_s": tokens / (v.median_ms / 1e3)} for k, v in stats.items()
    }
    out["ratio"] = stats["bare"].median_ms / stats["suite"].median_ms
    out["windows"], out["seq_len"] = windows, seq_len
    log(
        f"perplexity: bare {stats['bare'].median_ms:.1f} ms, suite {stats['suite'].median_ms:.1f} ms, "
        f"suite/bare throughput {out['ratio']:.3f}"
    )
    return out


def section_sleb(
    model: Any, device: str, samples: int, seq_len: int, sparsity: float
) -> dict[str, Any]:
    """SLEB's search on ``samples`` calibration rows, and full evaluations to scale against."""
    import torch

    from methods.base import ApplyContext
    from methods.registry import get_method
    from methods.sleb import batch_nll

    total = num_decoder_layers(model)
    calib = tp.random_ids(samples, seq_len, text_config(model).vocab_size, 1, "cpu")
    cls = get_method("sleb")
    config = cls.Config.from_params(
        {"sparsity": sparsity, "calib_samples": samples, "calib_seq_len": seq_len}
    )
    n = config.layers_to_skip(total)
    trials = sum(total - r - config.skip_first - config.skip_last for r in range(n))

    def full_eval(m: Any) -> None:
        with torch.inference_mode():
            for row in calib:
                ids = row[None].to(device)
                batch_nll(m(input_ids=ids, use_cache=False).logits, ids)

    t_full = measure(lambda: full_eval(model), device, 1, 2).median_ms
    short = remove_layers(copy.deepcopy(model), removal_indices(total, n))
    t_short = measure(lambda: full_eval(short), device, 1, 2).median_ms
    per_layer = (t_full - t_short) / n
    naive_ms = sum(
        t_full - per_layer * (r + 1)
        for r in range(n)
        for _ in range(total - r - config.skip_first - config.skip_last)
    )
    candidates = total - config.skip_first - config.skip_last
    exhaustive_ms = math.comb(candidates, n) * (t_full - per_layer * n)
    work = copy.deepcopy(model)
    synchronize(device)
    t0 = time.perf_counter()
    outcome = cls(config).apply(work, ApplyContext(calibration=calib))
    synchronize(device)
    search_ms = (time.perf_counter() - t0) * 1e3
    del work
    scale = 128 / samples
    out = {
        "samples": samples,
        "seq_len": seq_len,
        "layers_removed": n,
        "trials": trials,
        "removed_layers": outcome.details.get("removed_layers"),
        "search_s": search_ms / 1e3,
        "full_eval_s": t_full / 1e3,
        "short_eval_s": t_short / 1e3,
        "naive_greedy_s_est": naive_ms / 1e3,
        "exhaustive_s_est": exhaustive_ms / 1e3,
        "scaled_to_128_samples": {
            "search_s": search_ms * scale / 1e3,
            "naive_greedy_s_est": naive_ms * scale / 1e3,
            "exhaustive_s_est": exhaustive_ms * scale / 1e3,
        },
        "search_vs_naive": search_ms / naive_ms,
        "search_vs_exhaustive": search_ms / exhaustive_ms,
    }
    log(
        f"sleb: search {search_ms / 1e3:.1f} s on {samples}x{seq_len}, naive est {naive_ms / 1e3:.1f} s, "
        f"x{scale:.0f} -> {search_ms * scale / 1e3:.0f} s for 128 samples"
    )
    return out


def guarded(result: dict[str, Any], key: str, fn: Any, *args: Any) -> None:
    """Run one section; a failure is recorded (with its traceback tail) and the run goes on."""
    import traceback

    try:
        result[key] = fn(*args)
    except Exception as exc:  # noqa: BLE001 - a benchmark reports what broke and continues
        result.setdefault("errors", {})[key] = traceback.format_exc()[-3000:]
        log(f"{key} FAILED: {type(exc).__name__}: {exc}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="config:llama-2-7b")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--tiny", action="store_true", help="shrink the config (CPU smoke runs)")
    ap.add_argument("--sections", default="ceilings,prefill,decode,perplexity,sleb")
    ap.add_argument("--prefill", default="1x2048,32x2048", help="BxT list")
    ap.add_argument("--decode", default="1x512x128,64x64x128", help="BxPxN list")
    ap.add_argument("--modes", default="eager,graph")
    ap.add_argument(
        "--remove", type=int, default=None, help="layers to delete (default ceil(0.2 L))"
    )
    ap.add_argument("--orthorank", default=None, help="orthorank params k=v;k=v (omit to skip)")
    ap.add_argument("--sparsity", type=float, default=0.2, help="the table's method sparsity")
    ap.add_argument("--table-shapes", default="1x2048,8x2048", help="BxT list for the table")
    ap.add_argument("--table-modes", default="eager,compiled")
    ap.add_argument("--decode-variants", default="", help="decode only these variants")
    ap.add_argument(
        "--table-variants", default="", help="the table's variants besides dense (default: all)"
    )
    ap.add_argument("--long-prompts", default="4096,8192")
    ap.add_argument("--long-batches", default="1,16")
    ap.add_argument("--long-variants", default="dense,attn7,mlp7,mix13")
    ap.add_argument("--long-new-tokens", type=int, default=16)
    ap.add_argument("--long-mode", default="cudagraph", help="decode mode of the longctx section")
    ap.add_argument("--budget-gib", type=float, default=80.0)
    ap.add_argument(
        "--orthorank-kernels",
        default="auto",
        help="OrthoRank kernel= values to time side by side (auto,reference,flex,fused)",
    )
    ap.add_argument(
        "--cudagraph-decode", default="", help="BxPxN list also run in 'cudagraph' mode"
    )
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--decode-repeats", type=int, default=3)
    ap.add_argument("--ppl-windows", type=int, default=8)
    ap.add_argument("--sleb-samples", type=int, default=4)
    ap.add_argument("--git-sha", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    bad = sorted(set(args.table_modes.split(",")) - set(TABLE_MODES))
    if bad:
        ap.error(f"--table-modes {','.join(bad)} is not allowed; allowed: {', '.join(TABLE_MODES)}")
    sections = set(args.sections.split(","))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = getattr(torch, args.dtype)
    name = random_models.config_name(args.model)
    config = random_models.load_config(name, **(TINY if args.tiny else {}))
    t0 = time.perf_counter()
    dense = random_models.build_model(config, device, dtype, seed=0)
    log(
        f"built {name} ({sum(p.numel() for p in dense.parameters()) / 1e9:.2f} B params) in {time.perf_counter() - t0:.1f} s"
    )
    total = num_decoder_layers(dense)
    n_remove = args.remove if args.remove is not None else math.ceil(0.2 * total - 1e-9)
    result: dict[str, Any] = {
        "model": args.model,
        "tiny": args.tiny,
        "dtype": args.dtype,
        "num_layers": total,
        "remove_layers": n_remove,
        "args": vars(args),
    }
    if "ceilings" in sections:
        guarded(result, "ceilings", ceilings, device)
        log(f"ceilings: {result.get('ceilings')}")
    from harness import provenance

    def save() -> None:  # after every section, so a run stopped at its limit keeps its results
        if args.out:
            result["provenance"] = {
                **provenance.collect(device),
                **({"git_sha": args.git_sha} if args.git_sha else {}),
            }
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(result, indent=1, default=str))

    save()
    if sections & {"table", "longctx"}:
        ortho = None
        if args.orthorank and "table" in sections:
            ortho = dict(kv.split("=", 1) for kv in args.orthorank.split(";"))
        tv = table.table_variants(dense, args.sparsity, ortho)
        if args.table_variants:
            keep = {"dense", *args.table_variants.split(",")}
            if keep - set(tv):
                unknown, allowed = sorted(keep - set(tv)), sorted(tv)
                print(f"--table-variants: unknown {unknown}; allowed: {allowed}", file=sys.stderr)
                sys.exit(2)
            tv = {k: v for k, v in tv.items() if k in keep}
        result["table_variants"] = {
            k: {"stands_for": v["stands_for"], "details": v["details"]} for k, v in tv.items()
        }
        if "table" in sections:
            result["table"] = []
            guarded(
                result, "table", table.section_table, tv, parse_shapes(args.table_shapes),
                args.table_modes.split(","), device, args, log, result["table"], save,
            )  # fmt: skip
            save()
        tv.pop("orthorank", None)
        if "longctx" in sections:
            chosen = {k: v for k, v in tv.items() if k in args.long_variants.split(",")}
            guarded(
                result, "long_context", table.section_long_context, chosen,
                [int(x) for x in args.long_prompts.split(",")],
                [int(x) for x in args.long_batches.split(",")],
                args.long_new_tokens, args.long_mode, device, args.budget_gib, log,
            )  # fmt: skip
            save()
        tv.clear()
        tp.free_device_memory(device)
    removed = remove_layers(same_weights_copy(dense), removal_indices(total, n_remove))
    variants = {"dense": dense, f"remove{n_remove}": removed}
    result["ideal"] = {f"remove{n_remove}": total / (total - n_remove)}
    ortho_names = []
    if args.orthorank and sections & {"prefill", "cprefill", "gprefill"}:
        params = dict(kv.split("=", 1) for kv in args.orthorank.split(";"))
        result["orthorank"] = {"params": params, "details": {}}
        for kernel in args.orthorank_kernels.split(","):
            ortho, details = orthorank_variant(dense, {**params, "kernel": kernel})
            name = "orthorank" if kernel == "auto" else f"orthorank_{kernel}"
            variants[name] = ortho
            ortho_names.append(name)
            result["orthorank"]["details"][name] = details
            realized = details.get("sparsity", {}).get("realized")
            if realized is not None:
                result["ideal"][name] = 1 / (1 - realized)
    if "prefill" in sections:
        result["prefill"] = section_prefill(variants, parse_shapes(args.prefill), device, args)
    if "gprefill" in sections and device == "cuda":
        result["prefill_graph"] = section_prefill_graph(
            variants, parse_shapes(args.prefill), device, args
        )
        for name in list(result["ideal"]):
            result["ideal"][name + "_graph"] = result["ideal"][name]
    if "cprefill" in sections:  # both sides through torch.compile: fused elementwise work
        import torch._dynamo

        torch._dynamo.config.cache_size_limit = 64
        compiled = {"dense": torch.compile(dense, dynamic=False)}
        if "orthorank_flex" in variants:
            compiled["orthorank_flex"] = torch.compile(variants["orthorank_flex"], dynamic=False)
        rows = section_prefill(compiled, parse_shapes(args.prefill), device, args)
        for row in rows:
            row["section"], row["variant"] = (
                "prefill_compiled",
                row.get("variant", "?") + "_compiled",
            )
        result["prefill_compiled"] = rows
        result["ideal"]["orthorank_flex_compiled"] = result["ideal"].get("orthorank_flex")
    for name in ortho_names:
        variants.pop(name, None)
    tp.free_device_memory(device)
    if "decode" in sections:
        weight_bytes = sum(p.numel() * p.element_size() for p in dense.parameters())
        emb = dense.get_input_embeddings().weight
        result["weights"] = {
            "bytes": weight_bytes,
            "bytes_read_per_token": weight_bytes - emb.numel() * emb.element_size(),
        }
        shapes = [tuple(int(x) for x in s.split("x")) for s in args.decode.split(",") if s]
        if args.decode_variants:
            variants = {k: v for k, v in variants.items() if k in args.decode_variants.split(",")}
        result["decode"] = section_decode(variants, shapes, args.modes.split(","), device, args)
        save()
        uncompiled = [
            tuple(int(x) for x in s.split("x")) for s in args.cudagraph_decode.split(",") if s
        ]
        result["decode"] += section_decode(variants, uncompiled, ["cudagraph"], device, args)
    del removed
    variants.clear()
    tp.free_device_memory(device)
    if "perplexity" in sections:
        tok = random_models.ByteTokenizer(config.vocab_size)
        seq = 2048 if not args.tiny else 128
        guarded(result, "perplexity", section_perplexity, dense, tok, device, args.ppl_windows, seq)
    if "sleb" in sections:
        seq = 2048 if not args.tiny else 64
        guarded(result, "sleb", section_sleb, dense, device, args.sleb_samples, seq, 0.2)
    result["provenance"] = {
        **provenance.collect(device),
        **({"git_sha": args.git_sha} if args.git_sha else {}),
    }
    print_table(result)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps(summary(result), default=str))
    return result


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The target figures, compactly (the final JSON line)."""
    out: dict[str, Any] = {"device": result.get("provenance", {}).get("device_name")}
    for row in (
        result.get("prefill", [])
        + result.get("prefill_graph", [])
        + result.get("prefill_compiled", [])
    ):
        if not row.get("variant", "dense").startswith("dense") and "speedup" in row:
            ideal = result["ideal"].get(row["variant"])
            key = f"prefill_{row['batch']}x{row['seq_len']}_{row['variant']}"
            out[key] = {
                "speedup": round(row["speedup"], 4),
                "ideal": ideal and round(ideal, 4),
                "of_ideal": ideal and round(row["speedup"] / ideal, 4),
            }
    for row in result.get("table", []):
        if row.get("variant", "dense") != "dense" and "speedup" in row:
            key = f"table_{row['mode']}_{row['batch']}x{row['seq_len']}_{row['variant']}"
            out[key] = {
                k: row.get(k) and round(row[k], 4) for k in ("speedup", "ideal", "of_ideal")
            }
    bw = result.get("ceilings", {}).get("copy_bandwidth_Bps")
    for row in result.get("decode", []):
        if "error" in row:
            continue
        key = f"decode_{row['mode']}_b{row['batch']}p{row['prompt_len']}n{row['new_tokens']}_{row['variant']}"
        entry = {"tpot_ms": round(row["tpot_ms"], 3), "tokens_per_s": round(row["tokens_per_s"], 1)}
        if bw and row["variant"] == "dense" and row["batch"] == 1:
            floor_ms = result["weights"]["bytes_read_per_token"] / bw * 1e3
            entry.update(floor_ms=round(floor_ms, 3), of_floor=round(floor_ms / row["tpot_ms"], 3))
        out[key] = entry
    if "perplexity" in result:
        out["perplexity_suite_vs_bare"] = round(result["perplexity"]["ratio"], 4)
    if "sleb" in result:
        s = result["sleb"]
        out["sleb"] = {
            k: s[k] for k in ("samples", "search_s", "search_vs_naive", "search_vs_exhaustive")
        }
        out["sleb"]["search_s_at_128"] = s["scaled_to_128_samples"]["search_s"]
    return out


def print_table(result: dict[str, Any]) -> None:
    print()
    print(f"{'what':<44} {'median ms':>10} {'p90 ms':>9} {'tok/s':>12} {'speedup':>8} {'ideal':>7}")
    for row in (
        result.get("prefill", [])
        + result.get("prefill_graph", [])
        + result.get("prefill_compiled", [])
    ):
        if "error" in row:
            print(f"prefill {row['batch']}x{row['seq_len']}: {row['error']}")
            continue
        ideal = result["ideal"].get(row["variant"], 1.0)
        print(
            f"{'prefill ' + str(row['batch']) + 'x' + str(row['seq_len']) + ' ' + row['variant']:<44} "
            f"{row['median_ms']:>10.2f} {row['p90_ms']:>9.2f} {row['tokens_per_s']:>12.0f} {row['speedup']:>8.3f} {ideal:>7.3f}"
        )
    for row in result.get("decode", []):
        if "error" in row:
            print(f"decode {row['mode']} b{row['batch']}: FAILED (see JSON)")
            continue
        what = f"decode {row['mode']} b{row['batch']} p{row['prompt_len']} n{row['new_tokens']} {row['variant']}"
        print(
            f"{what:<44} {row['tpot_ms']:>10.2f} {'':>9} {row['tokens_per_s']:>12.1f} {row['speedup_tokens_per_s']:>8.3f}"
        )


if __name__ == "__main__":
    main()
