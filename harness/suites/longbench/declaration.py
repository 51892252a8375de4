"""What the LongBench suite stores (torch-free): 21 tasks in six categories, their averages."""

from harness.suites.declarations import MetricSpec, SuiteDeclaration, TaskSpec

# the paper's task table: category -> its tasks
CATEGORIES: dict[str, tuple[str, ...]] = {
    "single_doc_qa": ("narrativeqa", "qasper", "multifieldqa_en", "multifieldqa_zh"),
    "multi_doc_qa": ("hotpotqa", "2wikimqa", "musique", "dureader"),
    "summarization": ("gov_report", "qmsum", "multi_news", "vcsum"),
    "few_shot": ("trec", "triviaqa", "samsum", "lsht"),
    "synthetic": ("passage_count", "passage_retrieval_en", "passage_retrieval_zh"),
    "code": ("lcc", "repobench-p"),
}
CATEGORY_LABELS = {
    "single_doc_qa": "Single-doc QA",
    "multi_doc_qa": "Multi-doc QA",
    "summarization": "Summarization",
    "few_shot": "Few-shot",
    "synthetic": "Synthetic",
    "code": "Code",
}
TASKS: tuple[str, ...] = tuple(t for members in CATEGORIES.values() for t in members)

DECLARATION = SuiteDeclaration(
    name="longbench",
    display_name="LongBench",
    description="LongBench v1: 21 long-context tasks, official truncation, decoding and metrics",
    order=30,
    # data sets are stored as task prefixes (mini.hotpotqa, e.hotpotqa): a column group each
    task_prefixes=(("mini.", "mini"), ("e.", "E")),
    label_names_metric=False,
    tasks=(
        TaskSpec("average", "Average", selectable=False, description="mean of the task scores"),
        *(
            TaskSpec(c, label, selectable=False, description=f"mean of the {label} task scores")
            for c, label in CATEGORY_LABELS.items()
        ),
        # the compact view shows only the averages: per-task scores are "all metrics" only
        *(TaskSpec(t, group=c, headline=False) for c, members in CATEGORIES.items() for t in members),
    ),
    metrics=(
        MetricSpec(
            "average", "LongBench average", higher_is_better=True, unit="0-100",
            description="mean of the task scores", short_name="avg", headline=True, compact=1,
        ),
        MetricSpec(
            "score", "LongBench score", higher_is_better=True, unit="0-100",
            description="task metric x 100, mean over items", headline=True, compact=2,
        ),
    ),
)  # fmt: skip
