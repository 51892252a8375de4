"""What the throughput suite stores (torch-free).

Stored task names carry the shape: ``prefill/b{batch}x{seq_len}`` (eager),
``prefill-compiled/b{batch}x{seq_len}`` (every decoder layer that is not a method's own kernel
compiled, on both sides) and ``decode-{mode}/b{batch}p{prompt_len}n{new_tokens}``. On CUDA the
compiled prefill is the headline: its task names sort before the eager ones, so the first
prefill speedup a table or plot picks is the one against a compiled dense baseline.
"""

from harness.suites.declarations import MetricSpec, SuiteDeclaration, TaskSpec

DECLARATION = SuiteDeclaration(
    name="throughput",
    display_name="Throughput",
    description=(
        "Prefill latency (eager and compiled) and decode speed (eager and CUDA-graph modes), "
        "peak GPU memory"
    ),
    order=40,
    tasks=(
        TaskSpec(
            "prefill-compiled",
            description="prefill with every decoder layer but a method's own kernels compiled (CUDA)",
        ),
        TaskSpec("prefill", description="one forward of batch x seq_len random ids, per grid point"),
        TaskSpec("decode", description="greedy generation of new_tokens after prompt_len, per mode"),
    ),
    # compact view: speedup, tokens/s and peak memory of every task
    metrics=(
        MetricSpec(
            "speedup", "Speedup over dense (same process)", higher_is_better=True, unit="×",
            headline=True, compact=1,
        ),
        MetricSpec(
            "tokens_per_s", "Throughput", higher_is_better=True, unit="tokens/s",
            short_name="tokens/s", headline=True, compact=1,
        ),
        MetricSpec(
            "ideal_speedup", "Ideal speedup (FLOPs; batch-1 decode: weight bytes)",
            higher_is_better=True, unit="×", short_name="ideal",
        ),
        MetricSpec("latency_ms", "Latency (median)", higher_is_better=False, unit="ms", short_name="latency"),
        MetricSpec(
            "latency_p90_ms", "Latency (p90)", higher_is_better=False, unit="ms", short_name="latency p90"
        ),
        MetricSpec("ttft_ms", "Time to first token", higher_is_better=False, unit="ms", short_name="TTFT"),
        MetricSpec("tpot_ms", "Time per output token", higher_is_better=False, unit="ms", short_name="TPOT"),
        MetricSpec(
            "peak_memory_gib", "Peak GPU memory", higher_is_better=False, unit="GiB",
            short_name="peak mem", compact=1,
        ),
    ),
)  # fmt: skip
