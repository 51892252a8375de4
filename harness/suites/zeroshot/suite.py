"""Zero-shot accuracy through lm-eval (as a library), on the already-modified model.

Tasks keep lm-eval's built-in prompts and metrics (configs are generated per run, see
``harness.suites.zeroshot.lm_eval_tasks``); data come from ``<data_dir>/zeroshot`` when present, else
from the hub. lm-eval's response cache is never used (``use_cache=None``), so one model's or
method's answers cannot be served to another. Batches never contain padding
(``SkipBenchHFLM``), so scores do not depend on the batch size, for any method.

Besides each task's ``acc`` / ``acc_norm`` (with stderr and n), the suite stores the average
the layer-skipping papers report (SLEB): ``acc_norm`` where the task defines it, else ``acc``,
over piqa, winogrande, hellaswag, arc_easy and arc_challenge, as task ``average``.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.data import DataSource
from harness.suites.base import (
    MetricValue,
    Suite,
    SuiteConfig,
    SuiteContext,
    SuiteOutcome,
    register_suite,
)
from harness.suites.zeroshot.declaration import AVERAGE_RULE, AVERAGE_TASKS, DECLARATION
from harness.suites.zeroshot.lm_eval_tasks import TASKS
from skipbench.errors import InvalidInput

# lm-eval's stderr for mean metrics is closed-form whenever bootstrap_iters > 0; the bootstrap
# itself only runs for LAMBADA's perplexity, where 1,000 draws are plenty.
BOOTSTRAP_ITERS = 1000
_METRICS = ("acc", "acc_norm", "perplexity")


@dataclass(frozen=True)
class ZeroShotConfig(SuiteConfig):
    batch_size: int = 8
    data_source: DataSource = "auto"
    log_samples: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 1:
            raise InvalidInput(f"batch_size={self.batch_size} must be >= 1")
        if self.data_source not in ("auto", "local", "hub"):
            raise InvalidInput(f"data_source={self.data_source!r}; allowed: auto, local, hub")


@register_suite
class ZeroShotSuite(Suite[ZeroShotConfig]):
    declaration = DECLARATION

    def run(self, lm: Any, ctx: SuiteContext) -> SuiteOutcome:
        import lm_eval
        from lm_eval.tasks import TaskManager

        from harness.suites.zeroshot.lm_eval_tasks import write_configs
        from harness.suites.zeroshot.lm_eval_tasks.lm import SkipBenchHFLM

        config = self.config
        tasks = self.selected_tasks
        with tempfile.TemporaryDirectory(prefix="skipbench-lm-eval-") as folder:
            written = write_configs(tasks, Path(folder), config.data_source)
            manager = TaskManager(include_path=folder, include_defaults=False)
            ctx.report("zeroshot/loglikelihood", 0.0)
            with _quiet_lm_eval():
                wrapped = SkipBenchHFLM(
                    pretrained=lm.model,
                    tokenizer=lm.tokenizer,
                    batch_size=config.batch_size,
                    progress=lambda f: ctx.report("zeroshot/loglikelihood", f),
                )
                out = lm_eval.simple_evaluate(
                    model=wrapped,
                    tasks=list(tasks),
                    task_manager=manager,
                    num_fewshot=0,
                    limit=config.limit,
                    use_cache=None,
                    cache_requests=False,
                    log_samples=True,
                    bootstrap_iters=BOOTSTRAP_ITERS,
                    apply_chat_template=False,
                )
        assert out is not None
        results, members = collect_results(out, tasks)
        info: dict[str, Any] = {
            "lm_eval_version": lm_eval.__version__
            if hasattr(lm_eval, "__version__")
            else _version(),
            "task_versions": {t: out["versions"].get(t) for t in tasks},
            "n_samples": {t: out["n-samples"].get(t) for t in tasks},
            "data_origin": written.origins,
            "task_configs": written.yaml_text,
            "num_fewshot": 0,
            "batch_size": config.batch_size,
            "padding": "none: batches hold equal-length rows only",
            "response_cache": "off",
            "average": {"rule": AVERAGE_RULE, "members": members},
        }
        notes = {t: TASKS[t].note for t in tasks if TASKS[t].note and written.origins[t] == "local"}
        if notes:
            info["data_notes"] = notes
        artifacts: dict[str, Any] = {}
        if config.log_samples:
            artifacts["samples"] = sample_records(out, tasks)
        return SuiteOutcome(
            results=results, data_files=written.data_files, artifacts=artifacts, info=info
        )


def collect_results(
    out: dict[str, Any], tasks: tuple[str, ...]
) -> tuple[list[MetricValue], dict[str, str]]:
    """lm-eval's results -> our rows, plus the SLEB average and which metric each member used."""
    results: list[MetricValue] = []
    chosen: dict[str, float] = {}
    members: dict[str, str] = {}
    for task in tasks:
        row = out["results"][task]
        n = int(out["n-samples"][task]["effective"])
        for metric in _METRICS:
            key = f"{metric},none"
            if key in row:
                stderr = row.get(f"{metric}_stderr,none")
                stderr = float(stderr) if isinstance(stderr, (int, float)) else None
                results.append(MetricValue(task, metric, float(row[key]), stderr, n))
        if task in AVERAGE_TASKS:
            metric = "acc_norm" if "acc_norm,none" in row else "acc"
            chosen[task] = float(row[f"{metric},none"])
            members[task] = metric
    if len(chosen) == len(AVERAGE_TASKS):
        value = sum(chosen.values()) / len(chosen)
        results.append(MetricValue("average", "average", value, None, len(chosen)))
    else:
        members = {"skipped": "average needs all of " + ", ".join(AVERAGE_TASKS)}
    return results, members


SAMPLE_TEXT_CHARS = 2000  # prompts stored per sample are cut to this many characters


def sample_records(out: dict[str, Any], tasks: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    """Per-sample drill-down: the prompt (cut to ``SAMPLE_TEXT_CHARS``), the answer choices, the
    model's choice (highest log-likelihood, what ``acc`` scores), the target, per-choice
    log-likelihoods, correct or not, and the prompt/doc hashes."""
    records: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        rows = []
        for s in out["samples"][task]:
            resps = s["filtered_resps"]
            lls = [float(r[0]) for r in resps]
            pairs = [a for a in s.get("arguments") or [] if isinstance(a, (list, tuple))]
            rows.append(
                {
                    "doc_id": s["doc_id"],
                    "prompt": str(pairs[0][0])[:SAMPLE_TEXT_CHARS] if pairs else None,
                    "choices": [str(a[1]) for a in pairs if len(a) > 1],
                    "choice": max(range(len(lls)), key=lls.__getitem__) if lls else None,
                    "doc_hash": s.get("doc_hash"),
                    "prompt_hash": s.get("prompt_hash") or _hash(s["arguments"]),
                    "target": s["target"],
                    "loglikelihoods": lls,
                    "is_greedy": [bool(r[1]) for r in resps],
                    **{m: s[m] for m in ("acc", "acc_norm", "perplexity") if m in s},
                }
            )
        records[task] = rows
    return records


def _hash(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()


def _version() -> str:
    from importlib.metadata import version

    return version("lm_eval")


class _quiet_lm_eval:
    """lm-eval logs a warning per run about receiving a model object; keep only errors. Its
    own tqdm bars (building requests, tokenizing) are switched off (SkipBench reports
    progress itself), and its ``git describe`` of the working directory, which prints
    ``fatal: not a git repository`` outside one and says nothing about lm-eval, is skipped
    (the suite records lm-eval's version)."""

    PATCHED = (("lm_eval.api.task", "tqdm"), ("lm_eval.api.model", "tqdm"),
               ("lm_eval.evaluator", "get_git_commit_hash"))  # fmt: skip

    def __enter__(self) -> None:
        import importlib

        from tqdm import tqdm

        def silent(*args: Any, **kwargs: Any) -> Any:
            return tqdm(*args, **{**kwargs, "disable": True})  # even where disable= is passed

        self._logger = logging.getLogger("lm_eval")
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR)
        quiet = {"tqdm": silent, "get_git_commit_hash": lambda: None}
        self._saved = []
        for module_name, attr in self.PATCHED:
            module = importlib.import_module(module_name)
            if hasattr(module, attr):
                self._saved.append((module, attr, getattr(module, attr)))
                setattr(module, attr, quiet[attr])

    def __exit__(self, *exc: object) -> None:
        self._logger.setLevel(self._level)
        for module, attr, original in self._saved:
            setattr(module, attr, original)
