"""lm-eval's HF wrapper around an already-modified model, made padding-free.

lm-eval 0.4.13's ``HFLM._loglikelihood_tokens`` right-pads each batch with token 0 and calls
the model with no attention mask. For a plain causal model that is harmless (later positions
never influence earlier ones), but a token-selection method sees every position of its input,
so pad tokens would change which tokens it keeps and make scores depend on the batch size.
``SkipBenchHFLM`` therefore hands lm-eval only batches whose rows have the same length: no
padding is ever built, whatever the batch size. Requests are also reported to a progress
callback (lm-eval's own bar is turned off).

Because every row of a batch then has the same length, the model only needs to produce logits
for the last ``max continuation length`` positions (``logits_to_keep``); lm-eval's own slicing
(``_select_cont_toks``, which accounts for rows shorter than the logits) picks the same
positions as with full logits. That skips most of the vocabulary projection and softmax.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from lm_eval.models.huggingface import HFLM

from methods.layers import keeps_logits


class SkipBenchHFLM(HFLM):
    def __init__(
        self, *args: Any, progress: Callable[[float], None] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._progress = progress
        self._keep: int | None = None
        self._can_keep = self.backend == "causal" and keeps_logits(self.model)

    def input_length(self, context: list[int], continuation: list[int]) -> int:
        """Length of the row lm-eval feeds the model for this request (after its left truncation)."""
        return min(len(context) + len(continuation), self.max_length + 1) - 1

    def _loglikelihood_tokens(
        self,
        requests: list[tuple[tuple[str, str], list[int], list[int]]],
        disable_tqdm: bool = False,
        override_bs: int | None = None,
    ) -> list[tuple[float, bool]]:
        by_length: dict[int, list[int]] = defaultdict(list)
        for i, (_, context, continuation) in enumerate(requests):
            by_length[self.input_length(context, continuation)].append(i)
        out: list[tuple[float, bool] | None] = [None] * len(requests)
        done = 0
        # longest first, like lm-eval, so memory problems show up at once
        for length in sorted(by_length, reverse=True):
            idx = by_length[length]
            group = [requests[i] for i in idx]
            self._keep = max(len(cont) for _, _, cont in group) if self._can_keep else None
            try:
                answers = super()._loglikelihood_tokens(
                    group, disable_tqdm=True, override_bs=override_bs
                )
            finally:
                self._keep = None
            for i, answer in zip(idx, answers, strict=True):
                out[i] = answer
            done += len(idx)
            if self._progress is not None:
                self._progress(done / len(requests))
        assert all(a is not None for a in out)
        return out  # type: ignore[return-value]

    def _model_call(
        self,
        inps: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self._keep is None or attn_mask is not None or labels is not None:
            return super()._model_call(inps, attn_mask=attn_mask, labels=labels)
        keep = min(self._keep, inps.shape[1])
        with torch.no_grad():
            return self.model(inps, logits_to_keep=keep).logits
