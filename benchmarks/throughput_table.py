"""The issue-17 table: every registered layer-removal and sublayer method at one sparsity, and
OrthoRank, prefill eager and compiled against dense in the same mode; long-context memory.

Random weights make calibration meaningless and the speed of a removal does not depend on
which layers go, so each registered method is stood for by the structure it produces at that
sparsity (its own config's count): ``n`` whole layers, ``n`` attention sublayers, ``n`` MLP
sublayers, or ``n`` sublayers of both kinds (half attention, rounded up), all taken from the
deep layers before the last. Methods with the same structure share one variant; ``stands_for``
names them. OrthoRank is applied through the registry (``layers=last``).
"""

from __future__ import annotations

import math
from typing import Any

from harness.models import same_weights_copy
from harness.suites.throughput import ideal
from harness.suites.throughput import suite as tp
from harness.suites.throughput.compiled import compile_layers
from methods.layers import num_decoder_layers, remove_with_details


def deep(total: int, n: int) -> list[int]:
    """n deep layers, keeping the last one (where block-influence methods usually cut)."""
    return list(range(total - 1 - n, total - 1))


# the options that change what a method removes, each value a variant of its own
STRUCTURE_OPTIONS = (
    ("target", ("attn", "mlp", "block", "joint")),
    ("block_type", ("mix", "attn", "mlp")),
)


def configurations(cls: Any, sparsity: float) -> list[tuple[str, Any]]:
    """(label, config) for a method's default and each value of its structure options."""
    from skipbench.errors import InvalidInput

    config = cls.Config.from_params({"sparsity": sparsity})
    out = [("", config)]
    for option, values in STRUCTURE_OPTIONS:
        if hasattr(config, option):
            for value in values:
                if value != getattr(config, option):
                    try:
                        params = {"sparsity": sparsity, option: value}
                        out.append((f" {option}={value}", cls.Config.from_params(params)))
                    except InvalidInput:
                        continue
    return out


def structure_of(config: Any, total: int) -> tuple[str, int] | None:
    """(kind, count) a method's config removes; None if it removes nothing."""
    if hasattr(config, "to_drop"):
        n = config.to_drop(total)
        kind = getattr(config, "target", None) or getattr(config, "block_type", "mix")
        return {"block": "layers", "joint": "mix"}.get(kind, kind), n
    if hasattr(config, "layers_to_skip"):
        return "layers", config.layers_to_skip(total)
    return None


def build_structure(dense: Any, kind: str, n: int) -> tuple[Any, dict[str, Any]]:
    from methods.sublayers import drop_sublayers

    total = num_decoder_layers(dense)
    model = same_weights_copy(dense)
    if kind == "layers":
        return model, remove_with_details(model, deep(total, n), n / total)
    n_attn = {"attn": n, "mlp": 0}.get(kind, math.ceil(n / 2))
    names = [f"attn.{i}" for i in deep(total, n_attn)]
    names += [f"mlp.{i}" for i in deep(total, n - n_attn)]
    units = 2 * total if kind == "mix" else total
    return model, drop_sublayers(model, names, n / units, n / units)


def table_variants(
    dense: Any, sparsity: float, orthorank_params: dict[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """name -> {model, details, stands_for} for dense, each distinct structure and OrthoRank."""
    from methods.base import ApplyContext
    from methods.registry import available_methods, get_method

    total = num_decoder_layers(dense)
    out: dict[str, dict[str, Any]] = {
        "dense": {"model": dense, "details": {}, "stands_for": ["dense"]}
    }
    for name, cls in available_methods().items():
        if name in ("dense", "orthorank"):
            continue
        for label, config in configurations(cls, sparsity):
            found = structure_of(config, total)
            if found is None:
                continue
            key = f"{found[0]}{found[1]}"
            if key not in out:
                model, details = build_structure(dense, *found)
                out[key] = {"model": model, "details": details, "stands_for": []}
            out[key]["stands_for"].append(name + label)
    if orthorank_params is not None:
        cls = get_method("orthorank")
        method = cls(cls.Config.from_params(orthorank_params))
        outcome = method.apply(same_weights_copy(dense), ApplyContext())
        out["orthorank"] = {
            "model": outcome.model,
            "details": outcome.details,
            "stands_for": ["orthorank"],
        }
    return out


def section_table(
    variants: dict[str, dict[str, Any]], shapes, modes, device, args, log, rows=None, save=None
) -> list:
    """Prefill rows per mode and shape: every variant against dense in the same mode (appended
    to ``rows``, ``save()`` after each shape)."""
    import torch

    rows = [] if rows is None else rows
    dense = variants["dense"]["model"]
    models = {name: v["model"] for name, v in variants.items()}
    for mode in modes:
        timed, compile_info = models, {}
        if mode in ("compiled", "compiled-graph"):
            timed = {}
            for name, m in models.items():
                timed[name], compile_info[name] = compile_layers(m)
        for b, t in shapes:
            try:
                recs = tp.measure_prefill_sides(
                    timed,
                    b,
                    t,
                    device,
                    args.warmup,
                    args.repeats * args.rounds,
                    args.rounds,
                    graphs=mode == "compiled-graph",
                )
            except torch.cuda.OutOfMemoryError as exc:
                rows.append({"mode": mode, "batch": b, "seq_len": t, "error": str(exc)[:200]})
                tp.free_device_memory(device)
                continue
            dense_ms = recs["dense"]["median_ms"]
            for name, rec in recs.items():
                row = {"section": "table", "mode": mode, "variant": name, **rec}
                row["speedup"] = dense_ms / rec["median_ms"]
                if name != "dense":
                    value, basis = ideal.prefill_ideal(
                        dense, variants[name]["model"], variants[name]["details"], t
                    )
                    row.update(ideal=value, ideal_basis=basis)
                    row["of_ideal"] = row["speedup"] / value if value else None
                row["stands_for"] = variants[name]["stands_for"]
                row["compile"] = compile_info.get(name)
                rows.append(row)
            log(
                f"table {mode} {b}x{t}: "
                + ", ".join(
                    f"{r['variant']} {r['median_ms']:.1f} ms ({r['speedup']:.3f}x"
                    + (f", {r['of_ideal']:.3f} of ideal)" if r.get("of_ideal") else ")")
                    for r in rows[-len(recs) :]
                )
            )
            if save is not None:
                save()
        del timed
        tp.free_device_memory(device)
    return rows


def kv_bytes_per_token(model: Any) -> int:
    from methods.layers import decoder_layers

    dtype = next(model.parameters()).element_size()
    return sum(
        (m.k_proj.out_features + m.v_proj.out_features) * dtype
        for layer in decoder_layers(model)
        for m in layer.modules()
        if hasattr(m, "k_proj") and hasattr(m, "q_proj")
    )


def section_long_context(
    variants: dict[str, dict[str, Any]], prompts, batches, new_tokens, mode, device, budget_gib, log
) -> dict[str, Any]:
    """Decode at long prompts per variant: TTFT, time per token, peak memory and the KV cache
    the static cache actually holds; the largest batch under ``budget_gib``, from a straight
    line through the peaks at the smallest and largest batch."""
    import torch
    from transformers import StaticCache

    rows, fits = [], {}
    for name, v in variants.items():
        model = v["model"]
        per_token = kv_bytes_per_token(model)
        cache = StaticCache(config=model.config, max_cache_len=8)
        cache_layers = len(getattr(cache, "layers", [])) or None
        del cache
        for p in prompts:
            peaks = {}
            for b in batches:
                try:
                    rec = tp.measure_decode(model, b, p, new_tokens, mode, device, 1, 1)
                except torch.cuda.OutOfMemoryError as exc:
                    rows.append(
                        {"variant": name, "batch": b, "prompt_len": p, "error": str(exc)[:200]}
                    )
                    tp.free_device_memory(device)
                    continue
                peaks[b] = rec["peak_memory_bytes"]
                rows.append(
                    {
                        "variant": name,
                        "batch": b,
                        "prompt_len": p,
                        "new_tokens": new_tokens,
                        "mode": mode,
                        "ttft_ms": rec["ttft_ms"],
                        "tpot_ms": rec["tpot_ms"],
                        "tokens_per_s": rec["tokens_per_s"],
                        "peak_memory_gib": (rec["peak_memory_bytes"] or 0) / 2**30,
                        "kv_bytes_per_token": per_token,
                        "kv_cache_gib": b * (p + new_tokens) * per_token / 2**30,
                        "cache_layers": cache_layers,
                    }
                )
                log(
                    f"long {name} b{b} p{p}: ttft {rec['ttft_ms']:.0f} ms, tpot {rec['tpot_ms']:.2f} ms, "
                    f"peak {rows[-1]['peak_memory_gib']:.1f} GiB"
                )
                tp.free_device_memory(device)
            if len(peaks) >= 2 and all(peaks.values()):
                lo, hi = min(peaks), max(peaks)
                slope = (peaks[hi] - peaks[lo]) / (hi - lo)
                base = peaks[lo] - slope * lo
                fits[f"{name}/p{p}"] = {
                    "budget_gib": budget_gib,
                    "bytes_per_sequence": slope,
                    "fixed_bytes": base,
                    "largest_batch": int((budget_gib * 2**30 - base) // slope)
                    if slope > 0
                    else None,
                }
    return {"rows": rows, "largest_batch": fits}
