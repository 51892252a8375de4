"""How often OrthoRank's selection of an early token depends on the tokens after it.

OrthoRank picks the ceil(keep_ratio x T) most sink-orthogonal tokens of the *whole* sequence, so
whether token i is updated can change when later tokens are added or removed. For each
WikiText-2 window of ``--seq-len`` tokens this script runs the model twice, on the full window
and on its first half, records which tokens each selective layer updated, and counts the tokens
of the kept prefix whose selection differs between the two runs.

At the first selective layer the prefix's hidden states are identical in both runs (the model is
causal), so a change there is the top-k effect alone; deeper selective layers also see the
changes made upstream. Prints a table and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def selections(model: Any, ids: Any, layers: list) -> dict[int, set[int]]:
    """{layer index: positions updated} for one ``[1, T]`` forward."""
    import torch

    record: list = []
    for layer in layers:
        layer.orthorank.record = record
    with torch.inference_mode():
        model(input_ids=ids, use_cache=False)
    for layer in layers:
        layer.orthorank.record = None
    out: dict[int, set[int]] = {}
    for layer_idx, idx, valid in record:
        chosen = idx[0] if valid is None else idx[0][valid[0]]
        out[int(layer_idx)] = set(chosen.tolist())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--sparsity", type=float, default=0.2)
    ap.add_argument("--keep-ratio", type=float, default=0.33)
    ap.add_argument(
        "--layers", default="last", help="last or explicit indices (no calibration here)"
    )
    ap.add_argument("--dtype", default="auto")
    args = ap.parse_args()

    from harness.data import eval_text
    from harness.models import ModelSpec, load_model
    from harness.tokens import tokenize_text, windows
    from methods.base import ApplyContext
    from methods.layers import decoder_layers
    from methods.orthorank import OrthoRank, OrthoRankConfig
    from methods.orthorank.dispatch import is_selective

    if args.layers in ("sleb", "shortgpt"):
        raise SystemExit("--layers: use last or explicit indices (this script does no calibration)")
    t0 = time.perf_counter()
    lm = load_model(ModelSpec(source=args.model, dtype=args.dtype))
    config = OrthoRankConfig(sparsity=args.sparsity, keep_ratio=args.keep_ratio, layers=args.layers)
    details = OrthoRank(config).apply(lm.model, ApplyContext()).details
    selective = [layer for layer in decoder_layers(lm.model) if is_selective(layer)]
    data = eval_text("wikitext2")
    wins = windows(tokenize_text(lm.tokenizer, data.text), args.seq_len, args.windows)
    half = args.seq_len // 2

    per_layer: dict[int, list[tuple[int, int, int]]] = {}
    for w, window in enumerate(wins):
        ids = window[None].to(lm.device)
        full = selections(lm.model, ids, selective)
        short = selections(lm.model, ids[:, :half], selective)
        for layer_idx in sorted(full):
            in_full = {i for i in full[layer_idx] if i < half}
            changed = len(in_full ^ short[layer_idx])
            per_layer.setdefault(layer_idx, []).append(
                (changed, len(in_full), len(short[layer_idx]))
            )
        print(
            f"window {w + 1}/{len(wins)} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr
        )

    print(
        f"\nSelection stability: {args.model}, {len(wins)} WikiText-2 windows of {args.seq_len}, "
        f"prefix = first {half} tokens, keep_ratio {args.keep_ratio}"
    )
    print(
        f"{'layer':>5} {'prefix sel. (full)':>19} {'prefix sel. (half)':>19} {'changed':>9} {'fraction':>9}"
    )
    rows = []
    for layer_idx, stats in sorted(per_layer.items()):
        changed = sum(s[0] for s in stats) / len(stats)
        sel_full = sum(s[1] for s in stats) / len(stats)
        sel_half = sum(s[2] for s in stats) / len(stats)
        frac = changed / half
        rows.append(
            {
                "layer": layer_idx,
                "changed": changed,
                "fraction_changed": frac,
                "prefix_selected_full": sel_full,
                "prefix_selected_half": sel_half,
            }
        )
        print(f"{layer_idx:>5} {sel_full:>19.1f} {sel_half:>19.1f} {changed:>9.1f} {frac:>9.3f}")
    mean = sum(r["fraction_changed"] for r in rows) / max(len(rows), 1)
    first = rows[0]["fraction_changed"] if rows else None
    print(
        f"mean fraction of prefix tokens whose selection changes: {mean:.3f} "
        f"(first selective layer, top-k effect alone: {first:.3f})"
    )
    result = {
        "benchmark": "orthorank_selection_stability",
        "model": args.model,
        "task": "wikitext2",
        "data_files": data.files,
        "windows": len(wins),
        "seq_len": args.seq_len,
        "prefix_len": half,
        "keep_ratio": args.keep_ratio,
        "selective_layers": details["selective_layers"],
        "per_layer": rows,
        "mean_fraction_changed": mean,
        "first_layer_fraction_changed": first,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
