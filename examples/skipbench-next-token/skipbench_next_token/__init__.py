"""Top-1 next-token accuracy on a text file: how often the model's most likely next token is
the one the text has.

The file is tokenized once and cut into non-overlapping windows of ``seq_len`` tokens (the
perplexity protocol, ``harness.tokens``); within each window every position but the last is
scored. The value is the fraction of scored positions whose argmax is the actual next token,
with its binomial standard error.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.suites.base import (
    MetricSpec,
    MetricValue,
    Suite,
    SuiteConfig,
    SuiteContext,
    SuiteDeclaration,
    SuiteOutcome,
    TaskSpec,
)
from harness.tokens import tokenize_text, windows
from skipbench.errors import InvalidInput

# What the suite stores; SkipBench reads it for the run table and `skipbench suites`.
DECLARATION = SuiteDeclaration(
    name="next-token",
    display_name="Next token",
    description="top-1 next-token accuracy on a UTF-8 text file (path=...)",
    tasks=(TaskSpec("text", "Text file", description="the file named by path"),),
    metrics=(
        MetricSpec(
            "top1",
            "Top-1 next-token accuracy",
            higher_is_better=True,
            unit="fraction",
            description="share of positions whose most likely next token is the text's",
            headline=True,
            compact=1,
        ),
    ),
)


@dataclass(frozen=True)
class NextTokenConfig(SuiteConfig):
    path: str = ""
    seq_len: int = 512
    batch_size: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.path:
            raise InvalidInput(
                "next-token needs path=<text file> (--suite-set next-token.path=...)"
            )
        if not Path(self.path).is_file():
            raise InvalidInput(f"path={self.path!r} is not an existing file")
        if self.seq_len < 2:
            raise InvalidInput(f"seq_len={self.seq_len} must be >= 2")
        if self.batch_size < 1:
            raise InvalidInput(f"batch_size={self.batch_size} must be >= 1")


class NextTokenSuite(Suite[NextTokenConfig]):
    declaration = DECLARATION

    def run(self, lm: Any, ctx: SuiteContext) -> SuiteOutcome:
        import torch

        config = self.config
        raw = Path(config.path).read_bytes()
        ids = tokenize_text(lm.tokenizer, raw.decode("utf-8"))
        wins = windows(ids, config.seq_len, config.limit)
        correct = 0
        with torch.inference_mode():
            for start in range(0, len(wins), config.batch_size):
                batch = wins[start : start + config.batch_size].to(lm.device)
                logits = lm.model(input_ids=batch, use_cache=False).logits
                correct += int((logits[:, :-1].argmax(-1) == batch[:, 1:]).sum())
                ctx.report("next-token/text", min(1.0, (start + len(batch)) / len(wins)))
        n = len(wins) * (config.seq_len - 1)
        p = correct / n
        result = MetricValue("text", "top1", p, math.sqrt(p * (1 - p) / n), n)
        digest = hashlib.sha256(raw).hexdigest()
        info = {"windows": len(wins), "positions": n, "tokens_total": int(ids.shape[1])}
        return SuiteOutcome(results=[result], data_files={config.path: digest}, info=info)
