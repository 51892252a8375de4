"""Perplexity, the papers' protocol (GPTQ / SLEB / OrthoRank).

Join the split's rows with "\\n\\n" (C4: the first 1,100 documents with " "), tokenize once,
cut into non-overlapping windows of ``seq_len`` tokens, and report
perplexity = exp(mean over windows of the window's mean next-token NLL).
``limit`` evaluates the first N windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.data import DataSource, eval_text
from harness.suites.base import (
    MetricValue,
    Suite,
    SuiteConfig,
    SuiteContext,
    SuiteOutcome,
    register_suite,
)
from harness.suites.perplexity.declaration import DECLARATION
from harness.tokens import tokenize_text, windows
from skipbench.errors import InvalidInput


@dataclass(frozen=True)
class PerplexityConfig(SuiteConfig):
    seq_len: int = 2048
    batch_size: int = 1
    data_source: DataSource = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.seq_len < 2:
            raise InvalidInput(f"seq_len={self.seq_len} must be >= 2")
        if self.batch_size < 1:
            raise InvalidInput(f"batch_size={self.batch_size} must be >= 1")


def window_nll(model: Any, batch: Any) -> Any:
    """Mean next-token NLL of each row of ``batch`` ([B, T] ids) -> [B] float64 tensor."""
    import torch

    logits = model(input_ids=batch, use_cache=False).logits
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    nll = -logp.gather(-1, batch[:, 1:, None]).squeeze(-1)
    return nll.double().mean(dim=1)


@register_suite
class PerplexitySuite(Suite[PerplexityConfig]):
    declaration = DECLARATION

    def run(self, lm: Any, ctx: SuiteContext) -> SuiteOutcome:
        import torch

        config = self.config
        results: list[MetricValue] = []
        files: dict[str, str] = {}
        info: dict[str, Any] = {}
        device = lm.device
        window = getattr(getattr(lm.model, "config", None), "max_position_embeddings", None)
        if window is not None and config.seq_len > window:
            raise InvalidInput(
                f"seq_len={config.seq_len} exceeds the model's context window of {window} tokens"
            )
        for task in self.selected_tasks:
            data = eval_text(task, config.data_source)
            files.update(data.files)
            ids = tokenize_text(lm.tokenizer, data.text)
            limit = config.limit
            if data.max_windows is not None:
                limit = min(limit or data.max_windows, data.max_windows)
            wins = windows(ids, config.seq_len, limit)
            nlls = []
            with torch.inference_mode():
                for start in range(0, len(wins), config.batch_size):
                    batch = wins[start : start + config.batch_size].to(device)
                    nlls.append(window_nll(lm.model, batch).cpu())
                    ctx.report(
                        f"perplexity/{data.name}", min(1.0, (start + len(batch)) / len(wins))
                    )
            nll = torch.cat(nlls)
            mean_nll = float(nll.mean())
            n = len(wins)
            results.append(MetricValue(data.name, "perplexity", math.exp(mean_nll), None, n))
            se = float(nll.std(unbiased=True) / math.sqrt(n)) if n > 1 else None
            results.append(MetricValue(data.name, "nll", mean_nll, se, n))
            info[data.name] = {
                "label": data.label,
                "origin": data.origin,
                "windows": n,
                "tokens_total": int(ids.shape[1]),
            }
        return SuiteOutcome(results=results, data_files=files, info=info)
