"""What the perplexity suite stores (torch-free)."""

from harness.suites.declarations import MetricSpec, SuiteDeclaration, TaskSpec

DECLARATION = SuiteDeclaration(
    name="perplexity",
    display_name="Perplexity",
    description="WikiText-2 / C4 perplexity over non-overlapping windows (papers' protocol)",
    order=10,
    label_names_metric=False,
    tasks=(
        TaskSpec("wikitext2", "WikiText-2"),
        TaskSpec("c4", "C4", default=False),
        # the offline C4 subset (2,000 documents) stores its own task name
        TaskSpec("c4_2k", "C4 (2k docs)", selectable=False),
    ),
    metrics=(
        MetricSpec(
            "perplexity", "Perplexity", higher_is_better=False, description="exp(mean window NLL)",
            short_name="ppl", headline=True, compact=1,
        ),
        MetricSpec("nll", "Mean NLL", higher_is_better=False, unit="nats/token", short_name="NLL"),
    ),
)  # fmt: skip
