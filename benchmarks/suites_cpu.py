"""Wall time of the zero-shot and LongBench suites on CPU (the issue's speed targets).

Runs one suite at a time through ``harness.runner.execute`` (no store), for a model and method,
and reports each suite's wall time next to its results. Default: SmolLM2-135M-Instruct, dense,
all seven zero-shot tasks at ``--zeroshot-limit 100`` and longbench-mini at ``--longbench-limit
2`` with a 2,048-token window. Prints a table and a final JSON line; ``--out`` also writes the
JSON (benchmarks/results/suites_cpu_*.json).

``--threads`` sets torch's intra-op threads. On a shared machine whose cores are oversubscribed,
one thread is much faster than two (OpenMP threads wait on each other); the value used and the
load average before and after are recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def progress_printer(every_s: float = 30.0):  # noqa: ANN201
    last = {"t": 0.0}

    def report(what: str, fraction: float) -> None:
        now = time.perf_counter()
        if now - last["t"] >= every_s or fraction >= 1.0:
            last["t"] = now
            print(
                f"  [{time.strftime('%H:%M:%S')}] {what} {fraction:.0%}",
                file=sys.stderr,
                flush=True,
            )

    return report


def run_suite(args: argparse.Namespace, suite: str, params: dict[str, Any]) -> dict[str, Any]:
    from harness.models import ModelSpec
    from harness.runner import RunSpec, SuiteSpec, execute
    from skipbench.config import parse_assignments

    method_params: dict[str, Any] = parse_assignments(args.set)
    if args.sparsity is not None:
        method_params["sparsity"] = args.sparsity
    spec = RunSpec(
        model=ModelSpec(source=args.model, device="cpu", dtype=args.dtype),
        method=args.method,
        method_params=method_params,
        suites=(SuiteSpec(suite, params),),
    )
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    record = execute(spec, None, progress_printer())
    seconds = time.perf_counter() - t0
    return {
        "suite": suite,
        "params": params,
        "seconds": round(seconds, 1),
        "method_apply_seconds": record["method"]["details"].get("apply_seconds"),
        "method_details": record["method"]["details"],
        "load_avg_before": round(load_before, 2),
        "load_avg_after": round(os.getloadavg()[0], 2),
        "results": [
            {k: r[k] for k in ("task", "metric", "value", "stderr", "n")} for r in record["results"]
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--method", default="dense")
    parser.add_argument("--sparsity", type=float, default=None)
    parser.add_argument("--set", action="append", default=[], help="method parameter key=value")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--suites", default="zeroshot,longbench")
    parser.add_argument("--zeroshot-limit", type=int, default=100)
    parser.add_argument("--longbench-limit", type=int, default=2)
    parser.add_argument("--window", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    params = {
        "zeroshot": {"limit": args.zeroshot_limit, "batch_size": args.batch_size},
        "longbench": {
            "limit": args.longbench_limit,
            "window": args.window,
            "dataset": "longbench-mini",
        },
    }
    runs = [run_suite(args, s, params[s]) for s in args.suites.split(",")]
    report = {
        "benchmark": "suites_cpu",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "model": args.model,
        "method": args.method,
        "method_params": {"sparsity": args.sparsity, **dict(s.split("=", 1) for s in args.set)},
        "dtype": args.dtype,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "runs": runs,
    }
    print(f"\n{'suite':10} {'task':28} {'metric':10} {'value':>9} {'n':>4}")
    for run in runs:
        for r in run["results"]:
            print(
                f"{run['suite']:10} {r['task']:28} {r['metric']:10} {r['value']:9.4f} {r['n'] or '':>4}"
            )
        print(f"{run['suite']:10} {'(wall time)':28} {'seconds':10} {run['seconds']:9.1f}")
    line = json.dumps(report)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(line)


if __name__ == "__main__":
    main()
