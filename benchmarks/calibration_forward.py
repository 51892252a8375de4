"""What a calibration pass saves by running the LM head on the last position only.

ShortGPT's, angular distance's and LLM-Drop's calibration passes read hidden states through
hooks and never the logits; ``methods.layers.hooks_only_forward`` asks the model for the last
position's logits alone (``logits_to_keep=1``). Per model: the median wall time of a full
forward and of that forward over one window of ``--tokens`` random ids, and the ratio.

    python benchmarks/calibration_forward.py --model smollm2-135m-instruct --model gemma-3-270m --tokens 512
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.model_spec import ModelSpec  # noqa: E402
from harness.models import load_model  # noqa: E402
from methods.layers import hooks_only_forward  # noqa: E402


def median_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def measure(name: str, args: argparse.Namespace) -> dict:
    """One model: both forwards' median wall time over the same random window."""
    import torch

    lm = load_model(ModelSpec(source=name, dtype=args.dtype, device=args.device))
    model = lm.model
    device = next(model.parameters()).device
    vocab = model.config.get_text_config().vocab_size
    ids = torch.randint(3, vocab, (1, args.tokens), generator=torch.Generator().manual_seed(0))
    ids = ids.to(device)

    def full() -> None:
        model(input_ids=ids, use_cache=False)

    def last() -> None:
        hooks_only_forward(model, ids)

    with torch.inference_mode():
        full(), last()  # warm-up
        full_s, last_s = median_s(full, args.repeats), median_s(last, args.repeats)
    return {
        "model": name,
        "vocab": vocab,
        "tokens": args.tokens,
        "device": str(device),
        "dtype": args.dtype,
        "full_s": round(full_s, 4),
        "hooks_only_s": round(last_s, 4),
        "speedup": round(full_s / last_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="catalog name or folder")
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    import torch

    rows = [measure(name, args) for name in args.model]
    print(
        f"{'model':<24} {'vocab':>7} {'tokens':>6} {'full s':>8} {'hooks-only s':>12} {'speedup':>8}"
    )
    for r in rows:
        print(
            f"{r['model']:<24} {r['vocab']:>7} {r['tokens']:>6} {r['full_s']:>8.3f} "
            f"{r['hooks_only_s']:>12.3f} {r['speedup']:>8.3f}"
        )
    record = {"benchmark": "calibration_forward", "threads": torch.get_num_threads(), "rows": rows}
    print(json.dumps(record))


if __name__ == "__main__":
    main()
