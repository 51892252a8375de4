"""Synthetic demo data for the leaderboard's tests, screenshots and a first look.

Every run written here is marked ``provenance.synthetic_demo = True`` and its numbers come from
a simple made-up degradation model (no model was run): they show what the pages do, not how
the methods compare. ``python -m leaderboard.seed sqlite:///demo.db`` writes them.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from db.engine import session_scope
from db.models import Job
from db.store import ResultRow, Store

DEVICE = "NVIDIA H100 80GB HBM3 (demo)"
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class DemoModel:
    model_id: str
    layers: int
    ppl: dict[str, float]  # task -> dense perplexity
    acc: dict[str, tuple[float, float | None, float]]  # task -> (acc, acc_norm, chance)
    longbench: bool
    tps: dict[str, float]  # throughput task -> dense tokens/s
    mem_gib: float


SMOL = DemoModel(
    "smollm2-135m-instruct", 30, {"wikitext2": 22.06, "c4": 36.04},
    {"piqa": (0.672, 0.677, 0.5), "hellaswag": (0.362, 0.431, 0.25), "winogrande": (0.531, None, 0.5),
     "arc_easy": (0.583, 0.522, 0.25), "arc_challenge": (0.281, 0.312, 0.25), "boolq": (0.601, None, 0.5),
     "openbookqa": (0.242, 0.338, 0.25)},
    True, {"prefill/b1x2048": 118000.0, "decode-eager/b1p512n128": 41.0, "decode-graph/b1p512n128": 312.0},
    0.61,
)  # fmt: skip
GEMMA = DemoModel(
    "gemma-3-270m", 18, {"wikitext2": 23.56, "c4": 39.31},
    {"piqa": (0.681, 0.684, 0.5), "hellaswag": (0.375, 0.452, 0.25), "winogrande": (0.542, None, 0.5),
     "arc_easy": (0.571, 0.534, 0.25), "arc_challenge": (0.262, 0.296, 0.25), "boolq": (0.612, None, 0.5),
     "openbookqa": (0.258, 0.346, 0.25)},
    False, {"prefill/b1x2048": 83000.0, "decode-eager/b1p512n128": 52.0, "decode-graph/b1p512n128": 270.0},
    0.93,
)  # fmt: skip
# damage per unit of sparsity, and the order in which each method drops / selects layers
DAMAGE = {"dense": 0.0, "shortgpt": 1.0, "sleb": 0.7, "orthorank": 0.45}
ORDER = {
    ("smollm2-135m-instruct", "shortgpt"): [25, 26, 24, 27, 23, 22, 21, 28, 20],
    ("smollm2-135m-instruct", "sleb"): [12, 24, 17, 27, 9, 20, 14, 26, 22],
    ("smollm2-135m-instruct", "orthorank"): [29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18],
    ("gemma-3-270m", "shortgpt"): [14, 15, 13, 12, 16],
    ("gemma-3-270m", "sleb"): [9, 14, 6, 12, 15],
    ("gemma-3-270m", "orthorank"): [17, 16, 15, 14, 13, 12, 11],
}
AVERAGE_MEMBERS = ("piqa", "winogrande", "hellaswag", "arc_easy", "arc_challenge")
LB_CATEGORIES = {"single_doc_qa": 14.2, "multi_doc_qa": 11.8, "summarization": 17.5,
                 "few_shot": 38.1, "synthetic": 2.6, "code": 31.4}  # fmt: skip
LB_TASKS = {"hotpotqa": 12.5, "gov_report": 19.0, "trec": 41.0, "lcc": 33.2}


def n_layers(model: DemoModel, sparsity: float) -> int:
    return math.ceil(sparsity * model.layers - 1e-9)


def details(model: DemoModel, method: str, sparsity: float) -> dict[str, Any]:
    if method == "dense":
        return {"num_layers_total": model.layers, "sparsity": {"nominal": 0.0, "realized": 0.0}}
    n = n_layers(model, sparsity)
    order = ORDER[(model.model_id, method)][:n]
    if method == "orthorank":
        order = ORDER[(model.model_id, method)][: round(sparsity * model.layers / 0.8)]
        return {"selective_layers": sorted(order), "selection_order": order, "keep_ratio": 0.2,
                "num_layers_total": model.layers, "layer_strategy": "last",
                "sparsity": {"nominal": sparsity, "realized": round(0.8 * len(order) / model.layers, 4)}}  # fmt: skip
    return {"removed_layers": order, "kept_layers": [i for i in range(model.layers) if i not in order],
            "num_layers_total": model.layers, "sparsity": {"nominal": sparsity, "realized": n / model.layers}}  # fmt: skip


def quality_rows(
    model: DemoModel, method: str, sparsity: float, drift: float = 0.0
) -> dict[str, list[ResultRow]]:
    """Made-up numbers: perplexity grows and accuracy falls toward chance with the damage."""
    d = DAMAGE[method] * sparsity + drift
    ppl = []
    for task, base in model.ppl.items():
        value = base * math.exp(3.0 * d)
        ppl += [ResultRow("perplexity", task, "perplexity", value, False, n=8, display_name="Perplexity"),
                ResultRow("perplexity", task, "nll", math.log(value), False, n=8, unit="nats/token",
                          display_name="Mean NLL")]  # fmt: skip
    zs, chosen = [], []
    for task, (acc, acc_norm, chance) in model.acc.items():
        n = 500 if task == "openbookqa" else 1000
        pairs: tuple[tuple[str, float | None], ...] = (("acc", acc), ("acc_norm", acc_norm))
        for metric, dense_value in pairs:
            if dense_value is None:
                continue
            value = chance + (dense_value - chance) * max(0.0, 1.0 - 1.6 * d)
            stderr = math.sqrt(value * (1 - value) / n)
            zs.append(ResultRow("zeroshot", task, metric, round(value, 4), True, stderr=round(stderr, 4), n=n,
                                unit="fraction", display_name="Accuracy" if metric == "acc" else "Accuracy (length-normalized)"))  # fmt: skip
        if task in AVERAGE_MEMBERS:
            chosen.append(zs[-1].value)
    zs.append(ResultRow("zeroshot", "average", "average", sum(chosen) / len(chosen), True, n=len(chosen),
                        unit="fraction", display_name="Zero-shot average"))  # fmt: skip
    out = {"perplexity": ppl, "zeroshot": zs}
    if model.longbench:  # named as the longbench suite stores longbench-mini: mini.<task>
        keep = max(0.0, 1.0 - 1.3 * d)

        def row(task: str, metric: str, value: float, n: int) -> ResultRow:
            name = "LongBench score" if metric == "score" else "LongBench average"
            return ResultRow("longbench", f"mini.{task}", metric, round(value * keep, 2), True, n=n,
                             unit="0-100", display_name=name)  # fmt: skip

        lb = [row(t, "score", v, 12) for t, v in LB_TASKS.items()]
        lb += [row(c, "average", v, 2) for c, v in LB_CATEGORIES.items()]
        lb.append(row("average", "average", sum(LB_CATEGORIES.values()) / len(LB_CATEGORIES), 21))
        out["longbench"] = lb
    return out


def speed_rows(model: DemoModel, method: str, sparsity: float) -> list[ResultRow]:
    """Layer removal near its ideal L / L_kept in prefill; eager decode barely moves."""
    if method == "dense":
        ideal = 1.0
    elif method == "orthorank":
        ideal = 1.0 / (1.0 - 0.8 * sparsity) * 0.95
    else:
        ideal = model.layers / (model.layers - n_layers(model, sparsity)) * 0.99
    rows = []
    for task, base in model.tps.items():
        gain = 1.0 + (ideal - 1.0) * (0.08 if "eager" in task else 1.0)
        tps = base * gain
        rows.append(ResultRow("throughput", task, "tokens_per_s", round(tps, 1), True, n=20, unit="tokens/s",
                              display_name="Throughput"))  # fmt: skip
        if task.startswith("prefill"):
            rows.append(ResultRow("throughput", task, "latency_ms", round(2048 / tps * 1000, 2), False, n=20,
                                  unit="ms", display_name="Latency (median)"))  # fmt: skip
        else:
            rows.append(ResultRow("throughput", task, "tpot_ms", round(1000 / tps, 3), False, n=5, unit="ms",
                                  display_name="Time per output token"))  # fmt: skip
        mem = (
            model.mem_gib * (1.0 - 0.7 * (1.0 - 1.0 / ideal))
            if method != "orthorank"
            else model.mem_gib
        )
        rows.append(ResultRow("throughput", task, "peak_memory_gib", round(mem, 3), False, unit="GiB",
                              display_name="Peak GPU memory"))  # fmt: skip
    return rows


def provenance(data_files: dict[str, str]) -> dict[str, Any]:
    return {"synthetic_demo": True, "skipbench": "0.1.0", "git_sha": "demo", "python": "3.11",
            "torch": "2.13.0", "transformers": "5.23.0", "lm_eval": "0.4.13", "host": "demo-host",
            "note": "synthetic numbers written by leaderboard/seed.py; no model was run",
            "data_files": sorted(data_files)}  # fmt: skip


def _data_hashes() -> dict[str, str]:
    """sha256 of the shared data files the demo runs pretend to use (as stored by real runs)."""
    from skipbench.settings import get_settings

    sums = get_settings().data_dir / "SHA256SUMS"
    wanted = ("wikitext2/test.jsonl", "c4/validation_2k.jsonl", "zeroshot/piqa/validation.jsonl")
    found = {}
    if sums.is_file():
        for line in sums.read_text().splitlines():
            digest, _, path = line.partition("  ")
            if path in wanted:
                found[f"data/{path}"] = digest
    return found or {f"data/{p}": "unknown" for p in wanted}


class _Seeder:
    def __init__(self, store: Store) -> None:
        self.store, self.clock = store, T0
        self.runs: dict[str, int] = {}
        self.files = _data_hashes()

    def tick(self, minutes: int = 7) -> datetime:
        self.clock += timedelta(minutes=minutes)
        return self.clock

    def run(self, model: DemoModel, method: str, sparsity: float, *, status: str = "succeeded",
            suites: tuple[str, ...] = ("perplexity", "zeroshot", "longbench", "throughput"),
            drift: float = 0.0, error: str | None = None, name: str | None = None) -> int:  # fmt: skip
        suites = tuple(s for s in suites if s != "longbench" or model.longbench)
        run_id = self.store.create_run(
            model_id=model.model_id, model_dtype="bfloat16", model_info={"num_layers": model.layers},
            method_name=method, method_config={"sparsity": sparsity} if method != "dense" else {},
            method_details=details(model, method, sparsity), sparsity=sparsity,
            suites={s: {"limit": None} for s in suites}, seed=0, device=DEVICE,
            provenance=provenance(self.files), data_files=self.files, created_at=self.tick(),
        )  # fmt: skip
        if status == "running":
            self.runs[name or f"{model.model_id}/{method}/{sparsity}/running"] = run_id
            return run_id
        quality = quality_rows(model, method, sparsity, drift)
        for suite in suites:
            if status == "failed" and suite != "perplexity":
                break
            rows = speed_rows(model, method, sparsity) if suite == "throughput" else quality[suite]
            self.store.add_suite_results(run_id, suite, rows)
        self.store.finish_run(run_id, status, error=error)
        self.store.update_run(run_id, finished_at=self.tick(3))
        self.runs[name or f"{model.model_id}/{method}/{sparsity}"] = run_id
        return run_id


def sink_payload(layers: int) -> dict[str, Any]:
    """Shaped like ``skipbench analyze sink``'s artifact (made-up curves)."""
    return {
        "analysis": "sink", "model": SMOL.model_id, "task": "wikitext2", "windows": 4,
        "tokens_per_window": 512, "layers": list(range(layers)),
        "mean_cos": [round(0.12 + 0.55 * (i / (layers - 1)) ** 0.7, 4) for i in range(layers)],
        "sink_change": [None] + [round(0.9 * math.exp(-i / 4) + 0.02, 4) for i in range(1, layers)],
        "summary": {"mean_cos_early": 0.2, "mean_cos_late": 0.6},
    }  # fmt: skip


PIQA_DEMO = [
    ("How do I keep bread fresh for longer?", ["Store it in a paper bag in a cool, dry place.", "Store it in the oven while it is on."]),
    ("To open a stuck jar lid,", ["run the lid under hot water, then twist.", "put the jar in the freezer overnight and twist."]),
    ("How can you remove a splinter?", ["Pull it out gently with clean tweezers.", "Push it further into the skin with a needle."]),
]  # fmt: skip


def sample_payload() -> dict[str, Any]:
    """piqa as the zeroshot suite stores samples now (prompt, choices, the model's choice);
    winogrande as older runs did (hashes and log-likelihoods only)."""
    piqa = []
    for i in range(6):
        goal, choices = PIQA_DEMO[i % len(PIQA_DEMO)]
        lls = [round(-3.1 - 0.2 * i, 3), round(-2.9 - 0.1 * (i % 3), 3)]
        choice = max(range(2), key=lls.__getitem__)
        target = i % 2
        piqa.append({"doc_id": i, "prompt": f"Question: {goal}\nAnswer:", "choices": [" " + c for c in choices],
                     "choice": choice, "target": target, "loglikelihoods": lls, "acc": float(choice == target)})  # fmt: skip
    old = [{"doc_id": i, "prompt_hash": f"{i:02d}" * 32, "target": (i * 7 + 1) % 2,
            "loglikelihoods": [round(-3.1 - 0.2 * i, 3), round(-3.0, 3)], "acc": float((i + 1) % 3 != 0)}
           for i in range(6)]  # fmt: skip
    return {"piqa": piqa, "winogrande": old}


def seed_demo(url: str) -> dict[str, int]:
    """Write the demo store at ``url`` (fresh database expected); returns name -> run id."""
    s = _Seeder(Store(url))
    s.run(
        SMOL, "shortgpt", 0.2, drift=0.05, name="smol/shortgpt/0.2/old"
    )  # superseded by a later run
    dense = s.run(SMOL, "dense", 0.0)
    for method, sparsities in (
        ("shortgpt", (0.1, 0.2, 0.3)),
        ("sleb", (0.1, 0.2, 0.3)),
        ("orthorank", (0.1, 0.2)),
    ):
        for sp in sparsities:
            skip = ("throughput",) if (method, sp) == ("orthorank", 0.1) else ()
            s.run(
                SMOL,
                method,
                sp,
                suites=tuple(
                    x
                    for x in ("perplexity", "zeroshot", "longbench", "throughput")
                    if x not in skip
                ),
            )
    s.run(GEMMA, "dense", 0.0)
    for method in ("shortgpt", "sleb", "orthorank"):
        s.run(GEMMA, method, 0.2)
    failed = s.run(GEMMA, "sleb", 0.3, status="failed", name="gemma/sleb/0.3/failed",
                   error="torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")  # fmt: skip
    running = s.run(SMOL, "orthorank", 0.3, status="running", name="smol/orthorank/0.3/running")
    sink = s.run(SMOL, "dense", 0.0, suites=(), name="smol/analysis/sink")  # like `analyze sink`
    s.store.update_run(sink, suites={"analysis": {"analysis": "sink"}})
    s.store.add_suite_results(sink, "analysis", [], {"sink": sink_payload(SMOL.layers)})
    s.store.add_artifact(dense, "zeroshot", "samples", sample_payload())
    _seed_jobs(url, s, failed, running, dense)
    return dict(s.runs)


def _seed_jobs(url: str, s: _Seeder, failed: int, running: int, dense: int) -> None:
    def spec(model: str, method: str, sparsity: float) -> dict[str, Any]:
        params = {"sparsity": sparsity} if method != "dense" else {}
        return {"model": {"source": model}, "method": method, "method_params": params,
                "suites": [{"name": "perplexity", "params": {}}, {"name": "zeroshot", "params": {}}], "seed": 0}  # fmt: skip

    now = datetime.now(timezone.utc)
    jobs = [
        Job(key="demo-ok", status="succeeded", spec=spec(SMOL.model_id, "dense", 0.0), run_id=dense,
            created_at=T0, started_at=T0, finished_at=T0 + timedelta(minutes=9), worker_host="gpu-worker-1",
            progress_suite="throughput", progress_fraction=1.0, attempts=1),
        Job(key="demo-failed", status="failed", spec=spec(GEMMA.model_id, "sleb", 0.3), run_id=failed,
            created_at=s.clock, started_at=s.clock, finished_at=s.clock, worker_host="gpu-worker-2", attempts=1,
            progress_suite="zeroshot", progress_fraction=0.1,
            error="torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"),
        Job(key="demo-running", status="running", spec=spec(SMOL.model_id, "orthorank", 0.3), run_id=running,
            created_at=now - timedelta(minutes=12), started_at=now - timedelta(minutes=11), heartbeat_at=now,
            worker_host="gpu-worker-1", worker_gpu="NVIDIA H100 80GB HBM3", progress_suite="zeroshot",
            progress_fraction=0.45, attempts=1),
        Job(key="demo-failed-early", status="failed", spec=spec(GEMMA.model_id, "shortgpt", 0.3),
            created_at=s.clock, started_at=s.clock, finished_at=s.clock + timedelta(seconds=40),
            worker_host="gpu-worker-2", attempts=1,
            error="Traceback (most recent call last):\n  File \"harness/models.py\", line 88, in load\n"
                  "OSError: gemma-3-270m is not cached; run: skipbench models fetch gemma-3-270m"),
        Job(key="demo-queued-1", status="queued", spec=spec(GEMMA.model_id, "orthorank", 0.3),
            created_at=now - timedelta(minutes=5)),
        Job(key="demo-queued-2", status="queued", spec=spec(GEMMA.model_id, "shortgpt", 0.1),
            created_at=now - timedelta(minutes=4)),
        Job(key="demo-cancelled", status="cancelled", spec=spec(GEMMA.model_id, "sleb", 0.1),
            created_at=now - timedelta(hours=2), finished_at=now - timedelta(hours=2)),
    ]  # fmt: skip
    with session_scope(url) as session:
        session.add_all(jobs)


CPU_DEVICE = "cpu: x86_64 (2 threads) (demo)"
PPL_FULL = {
    "tasks": ["wikitext2"],
    "limit": None,
    "seq_len": 2048,
    "batch_size": 1,
    "data_source": "auto",
}
PPL_SMOKE = {**PPL_FULL, "limit": 1, "seq_len": 256}  # `--limit 1 --seq-len 256`
ZS_FULL = {
    "tasks": ["piqa"],
    "limit": None,
    "batch_size": 8,
    "data_source": "auto",
    "log_samples": False,
}
TP_GRID = {"tasks": ["prefill", "decode"], "limit": None, "preset": "custom", "prefill_batch_sizes": [1],
           "prefill_seq_lens": [2048], "decode_batch_sizes": [1], "prompt_len": 512, "new_tokens": 128,
           "decode_modes": ["eager"], "warmup": 2, "repeats": 10, "rounds": 2, "decode_repeats": 3,
           "baseline": True}  # fmt: skip
FILES = {
    "perplexity": {"wikitext2/test.jsonl": "a1" * 32},
    "zeroshot": {"zeroshot/piqa/validation.jsonl": "b2" * 32},
}


CALIBRATION = {"dataset": "c4", "label": "c4_2k", "origin": "local", "num_samples": 128, "seq_len": 2048,
               "seed": 0, "tokens_available": 2_000_000, "files": {"c4/validation_2k.jsonl": "c3" * 32}}  # fmt: skip


def _ppl(value: float) -> list[ResultRow]:
    return [
        ResultRow(
            "perplexity", "wikitext2", "perplexity", value, False, n=140, display_name="Perplexity"
        )
    ]


def _zs(average: float) -> list[ResultRow]:
    return [ResultRow("zeroshot", "piqa", "acc", average, True, n=1838, unit="fraction", display_name="Accuracy"),
            ResultRow("zeroshot", "average", "average", average, True, n=1, unit="fraction",
                      display_name="Zero-shot average")]  # fmt: skip


def _tp(tokens_per_s: float, *, p90_ratio: float = 1.02, speedup: float | None = None,
        tpot_ms: float = 3.0) -> list[ResultRow]:  # fmt: skip
    median = 2048 / tokens_per_s * 1000
    rows = [ResultRow("throughput", "prefill/b1x2048", "tokens_per_s", tokens_per_s, True, n=20, unit="tokens/s",
                      display_name="Throughput"),
            ResultRow("throughput", "prefill/b1x2048", "latency_ms", median, False, n=20, unit="ms",
                      display_name="Latency (median)"),
            ResultRow("throughput", "prefill/b1x2048", "latency_p90_ms", median * p90_ratio, False, n=20, unit="ms",
                      display_name="Latency (p90)"),
            ResultRow("throughput", "decode-eager/b1p512n128", "ttft_ms", 40.0, False, n=3, unit="ms",
                      display_name="Time to first token"),
            ResultRow("throughput", "decode-eager/b1p512n128", "tpot_ms", tpot_ms, False, n=3, unit="ms",
                      display_name="Time per output token")]  # fmt: skip
    if speedup is not None:
        rows.append(ResultRow("throughput", "prefill/b1x2048", "speedup", speedup, True, n=20, unit="×",
                              display_name="Speedup over dense (same process)"))  # fmt: skip
    return rows


def seed_evaluations(url: str) -> dict[str, int]:
    """A store reproducing what one row per (model, method) got wrong: suites stored in separate
    runs, a newer smoke-test dense run (``limit=1, seq_len=256``), two OrthoRank configs at one
    sparsity, CPU and GPU speed of one model, a speedup above its ideal, a dense decode whose
    TTFT is not below its total time and a wide p90/median spread (synthetic numbers)."""
    store, clock, ids = Store(url), [T0], {}

    def run(name: str, method: str, sparsity: float, suite: str, config: dict[str, Any],
            rows: list[ResultRow], *, device: str = DEVICE, method_config: dict[str, Any] | None = None) -> None:  # fmt: skip
        clock[0] += timedelta(minutes=5)
        n = round(sparsity * SMOL.layers)
        details = {"removed_layers": ORDER[(SMOL.model_id, "shortgpt")][:n], "num_layers_total": SMOL.layers,
                   "sparsity": {"nominal": sparsity, "realized": n / SMOL.layers,
                                "param_fraction_removed": round(0.95 * n / SMOL.layers, 4)}}  # fmt: skip
        if method != "dense":
            details["calibration"] = CALIBRATION
        files = FILES.get(suite, {})
        run_id = store.create_run(
            model_id=SMOL.model_id, model_hash="sha256:demo-smol", model_dtype="bfloat16",
            model_info={"num_layers": SMOL.layers}, method_name=method,
            method_config=method_config if method_config is not None else ({"sparsity": sparsity} if sparsity else {}),
            method_details=details, sparsity=sparsity, suites={suite: config}, seed=0, device=device,
            provenance=provenance(files), data_files=files, created_at=clock[0],
            model_params=134_515_008, random_weights=False, model_revision="main",
        )  # fmt: skip
        store.add_suite_results(run_id, suite, rows)
        store.finish_run(run_id, "succeeded")
        ids[name] = run_id

    run("dense/ppl", "dense", 0.0, "perplexity", PPL_FULL, _ppl(20.24))
    run("dense/zs", "dense", 0.0, "zeroshot", ZS_FULL, _zs(0.70))
    run("dense/tp-gpu", "dense", 0.0, "throughput", TP_GRID, _tp(100000.0))
    run("dense/tp-cpu", "dense", 0.0, "throughput", TP_GRID, _tp(2000.0, p90_ratio=1.6, tpot_ms=0.0),
        device=CPU_DEVICE)  # fmt: skip
    run("shortgpt0.2/ppl", "shortgpt", 0.2, "perplexity", PPL_FULL, _ppl(28.0))
    run("shortgpt0.2/zs", "shortgpt", 0.2, "zeroshot", ZS_FULL, _zs(0.60))
    run("shortgpt0.2/tp-gpu", "shortgpt", 0.2, "throughput", TP_GRID, _tp(123000.0))
    run("shortgpt0.1/ppl", "shortgpt", 0.1, "perplexity", PPL_FULL, _ppl(24.0))
    run("shortgpt0.1/tp-gpu", "shortgpt", 0.1, "throughput", TP_GRID, _tp(318000.0, speedup=3.18))
    for layers, value in (("last", 22.0), ("0-15", 23.5)):
        run(f"orthorank0.2/{layers}", "orthorank", 0.2, "perplexity", PPL_FULL, _ppl(value),
            method_config={"sparsity": 0.2, "layers": layers})  # fmt: skip
    run("shortgpt0.2/smoke", "shortgpt", 0.2, "perplexity", PPL_SMOKE, _ppl(45.0))
    run("dense/smoke", "dense", 0.0, "perplexity", PPL_SMOKE, _ppl(35.38))  # the newest dense run
    with session_scope(url) as session:  # the job that produced the dense perplexity run
        job = Job(key="demo-eval-dense-ppl", status="succeeded", run_id=ids["dense/ppl"],
                  spec={"model": {"source": SMOL.model_id, "device": "cuda"}, "method": "dense",
                        "method_params": {}, "suites": [{"name": "perplexity", "params": {}}], "seed": 0},
                  created_at=T0, started_at=T0, finished_at=T0 + timedelta(minutes=4))  # fmt: skip
        session.add(job)
        session.flush()
        job_id = job.id
    store.update_run(ids["dense/ppl"], job_id=job_id)
    return ids


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit(
            "usage: python -m leaderboard.seed <database-url>  (e.g. sqlite:///demo.db)"
        )
    runs = seed_demo(args[0])
    print(f"seeded {len(runs)} synthetic demo runs into {args[0]}")


if __name__ == "__main__":
    main()
