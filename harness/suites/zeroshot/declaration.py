"""What the zero-shot suite stores (torch-free)."""

from harness.suites.declarations import MetricSpec, SuiteDeclaration, TaskSpec

AVERAGE_TASKS = ("piqa", "winogrande", "hellaswag", "arc_easy", "arc_challenge")
AVERAGE_RULE = "SLEB: acc_norm where the task defines it, else acc; mean over piqa, winogrande, hellaswag, arc_easy, arc_challenge"

DECLARATION = SuiteDeclaration(
    name="zeroshot",
    display_name="Zero-shot",
    description="0-shot multiple-choice accuracy with lm-eval's built-in tasks (+ SLEB average)",
    order=20,
    tasks=(
        TaskSpec("average", "Average", selectable=False, description=AVERAGE_RULE),
        TaskSpec("piqa", "PIQA"),
        TaskSpec("hellaswag", "HellaSwag"),
        TaskSpec("winogrande", "WinoGrande"),
        TaskSpec("arc_easy", "ARC-e"),
        TaskSpec("arc_challenge", "ARC-c"),
        TaskSpec("boolq", "BoolQ"),
        TaskSpec("openbookqa", "OBQA"),
        TaskSpec("lambada_openai", "LAMBADA", default=False),
    ),
    # compact view, per task: the average, else acc_norm, else acc
    metrics=(
        MetricSpec(
            "perplexity", "Perplexity", higher_is_better=False,
            description="LAMBADA target-word perplexity", short_name="ppl", headline=True,
        ),
        MetricSpec(
            "average", "Zero-shot average", higher_is_better=True, unit="fraction",
            description=AVERAGE_RULE, short_name="avg", headline=True, compact=1,
        ),
        MetricSpec(
            "acc", "Accuracy", higher_is_better=True, unit="fraction", description="lm-eval acc",
            headline=True, compact=3,
        ),
        MetricSpec(
            "acc_norm", "Accuracy (length-normalized)", higher_is_better=True, unit="fraction",
            description="lm-eval acc_norm: log-likelihood divided by the continuation's length in bytes",
            headline=True, compact=2,
        ),
    ),
)  # fmt: skip
