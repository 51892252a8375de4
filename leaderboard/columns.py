"""Which metric columns the leaderboard shows, in what order, under what labels.

Columns come from the stored rows (suite, task, metric + direction, unit, display name), so a
new suite appears without code changes; the known suites get a curated order and a compact
default view (the "all metrics" switch shows every stored metric).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SPEEDUP = "speedup"  # derived by the leaderboard: tokens/s over the same model's dense run

SUITE_ORDER = ("perplexity", "zeroshot", "longbench", "throughput")
SUITE_LABELS = {
    "perplexity": "Perplexity",
    "zeroshot": "Zero-shot",
    "longbench": "LongBench",
    "throughput": "Throughput",
    "analysis": "Analysis",
}
TASK_ORDER: dict[str, tuple[str, ...]] = {
    "perplexity": ("wikitext2", "c4", "c4_2k"),
    "zeroshot": (
        "average",
        "piqa",
        "hellaswag",
        "winogrande",
        "arc_easy",
        "arc_challenge",
        "boolq",
        "openbookqa",
    ),  # fmt: skip
    "longbench": (
        "average",
        "single_doc_qa",
        "multi_doc_qa",
        "summarization",
        "few_shot",
        "synthetic",
        "code",
    ),  # fmt: skip
}
# LongBench stores its data set as a task prefix (mini.hotpotqa, e.hotpotqa) and length buckets
# as a suffix (e.hotpotqa@0-4k); the set becomes part of the column group
TASK_PREFIXES = {"mini.": "mini", "e.": "E"}
TASK_LABELS = {
    "wikitext2": "WikiText-2",
    "c4": "C4",
    "c4_2k": "C4 (2k docs)",
    "average": "Average",
    "piqa": "PIQA",
    "hellaswag": "HellaSwag",
    "winogrande": "WinoGrande",
    "arc_easy": "ARC-e",
    "arc_challenge": "ARC-c",
    "boolq": "BoolQ",
    "openbookqa": "OBQA",
    "lambada_openai": "LAMBADA",
    "single_doc_qa": "Single-doc QA",
    "multi_doc_qa": "Multi-doc QA",
    "summarization": "Summarization",
    "few_shot": "Few-shot",
    "synthetic": "Synthetic",
    "code": "Code",
}
METRIC_LABELS = {
    "perplexity": "ppl",
    "nll": "NLL",
    "acc": "acc",
    "acc_norm": "acc_norm",
    "average": "avg",
    "score": "score",
    SPEEDUP: "speedup",
    "tokens_per_s": "tokens/s",
    "latency_ms": "latency",
    "latency_p90_ms": "latency p90",
    "ttft_ms": "TTFT",
    "tpot_ms": "TPOT",
    "peak_memory_gib": "peak mem",
}
# compact view: per (suite, task) the first of these metrics that is stored ...
ONE_OF: dict[str, tuple[str, ...]] = {
    "perplexity": ("perplexity",),
    "zeroshot": ("average", "acc_norm", "acc"),
    "longbench": ("average", "score"),
}
# ... or, for these suites, every one of these metrics
ALL_OF: dict[str, tuple[str, ...]] = {"throughput": (SPEEDUP, "tokens_per_s", "peak_memory_gib")}
METRIC_ORDER = (
    "perplexity", "nll", "average", "acc", "acc_norm", "score", SPEEDUP, "tokens_per_s",
    "latency_ms", "latency_p90_ms", "ttft_ms", "tpot_ms", "peak_memory_gib",
)  # fmt: skip
# LongBench v1's 21 tasks: the compact view shows only the average and categories
LONGBENCH_TASKS = frozenset(
    [
        "narrativeqa",
        "qasper",
        "multifieldqa_en",
        "multifieldqa_zh",
        "hotpotqa",
        "2wikimqa",
        "musique",
        "dureader",
        "gov_report",
        "qmsum",
        "multi_news",
        "vcsum",
        "trec",
        "triviaqa",
        "samsum",
        "lsht",
        "passage_count",
        "passage_retrieval_en",
        "passage_retrieval_zh",
        "lcc",
        "repobench-p",
    ]
)


def split_task(task: str) -> tuple[str, str]:
    """(data-set prefix, task) for prefixed task names: ``mini.average`` -> (``mini.``, ``average``)."""
    for prefix in TASK_PREFIXES:
        if task.startswith(prefix):
            return prefix, task[len(prefix) :]
    return "", task


def suite_family(suite: str) -> str:
    """``longbench-mini`` is laid out like ``longbench`` (but stays a separate column group)."""
    for known in SUITE_ORDER:
        if suite == known or suite.startswith(known + "-") or suite.startswith(known + "_"):
            return known
    return suite


@dataclass(frozen=True)
class MetricColumn:
    suite: str
    task: str
    metric: str
    higher_is_better: bool
    unit: str = ""
    display_name: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.suite, self.task, self.metric)

    @property
    def base_task(self) -> str:
        return split_task(self.task)[1] if suite_family(self.suite) == "longbench" else self.task

    @property
    def group(self) -> str:
        label = SUITE_LABELS.get(suite_family(self.suite), self.suite)
        if suite_family(self.suite) != self.suite:
            label = f"{label} ({self.suite})"
        prefix = split_task(self.task)[0] if suite_family(self.suite) == "longbench" else ""
        return f"{label}-{TASK_PREFIXES[prefix]}" if prefix else label

    @property
    def label(self) -> str:
        """Unique, readable header: ``Zero-shot · PIQA acc_norm ↑``."""
        family = suite_family(self.suite)
        base = self.base_task
        name, _, bucket = base.partition("@")
        task = TASK_LABELS.get(name, name.replace("_", " ")) + (f" @{bucket}" if bucket else "")
        metric = METRIC_LABELS.get(self.metric, self.display_name or self.metric)
        implied = self.metric in ONE_OF.get(family, ()) and family in ("perplexity", "longbench")
        text = task if implied or self.metric == base else f"{task} {metric}"
        quiet_units = ("fraction", "x", "×", "0-100", self.metric)
        if self.unit and self.unit not in quiet_units and self.unit not in text:
            text += f" ({self.unit})"
        return f"{self.group} · {text} {'↑' if self.higher_is_better else '↓'}"

    @property
    def help(self) -> str:
        direction = "higher is better" if self.higher_is_better else "lower is better"
        name = self.display_name or self.metric
        unit = f", unit: {self.unit}" if self.unit else ""
        return f"{self.suite}/{self.task}/{self.metric}: {name} ({direction}{unit})"

    @property
    def is_fraction(self) -> bool:
        return self.unit == "fraction"


def sort_key(col: MetricColumn) -> tuple:
    family = suite_family(col.suite)
    suite_rank = SUITE_ORDER.index(family) if family in SUITE_ORDER else len(SUITE_ORDER)
    tasks = TASK_ORDER.get(family, ("average",))
    prefix, base = split_task(col.task) if family == "longbench" else ("", col.task)
    task_rank = tasks.index(base) if base in tasks else len(tasks)
    metric_rank = (
        METRIC_ORDER.index(col.metric) if col.metric in METRIC_ORDER else len(METRIC_ORDER)
    )
    return (suite_rank, col.suite, prefix, task_rank, base, metric_rank, col.metric)


def ordered(columns: Iterable[MetricColumn]) -> list[MetricColumn]:
    return sorted(columns, key=sort_key)


def compact(columns: Iterable[MetricColumn]) -> list[MetricColumn]:
    """The default view: one headline metric per task for the known suites, all for others."""
    cols = ordered(columns)
    present: dict[tuple[str, str], set[str]] = {}
    for col in cols:
        present.setdefault((col.suite, col.task), set()).add(col.metric)
    shown = []
    for col in cols:
        family = suite_family(col.suite)
        if family == "longbench" and col.base_task.partition("@")[0] in LONGBENCH_TASKS:
            continue  # per-dataset scores and their length buckets: "All metrics" only
        if family in ALL_OF:
            if col.metric in ALL_OF[family]:
                shown.append(col)
        elif family in ONE_OF:
            first = next((m for m in ONE_OF[family] if m in present[(col.suite, col.task)]), None)
            if col.metric == (first or col.metric):
                shown.append(col)
        else:
            shown.append(col)
    return shown


def is_speed(col: MetricColumn) -> bool:
    return suite_family(col.suite) == "throughput"
