"""Tokenize a text once and cut it into windows (the perplexity and calibration protocols)."""

from __future__ import annotations

from typing import Any

from skipbench.errors import InvalidInput


def tokenize_text(tokenizer: Any, text: str) -> Any:
    """The whole text as one ``[1, N]`` LongTensor, with the tokenizer's default special tokens."""
    return tokenizer(text, return_tensors="pt").input_ids


def windows(ids: Any, seq_len: int, limit: int | None = None) -> Any:
    """Non-overlapping ``[n, seq_len]`` windows from the start of ``ids`` (``[1, N]``)."""
    n = ids.shape[1] // seq_len
    if limit is not None:
        n = min(n, limit)
    if n == 0:
        raise InvalidInput(
            f"text has {ids.shape[1]} tokens, fewer than one window of seq_len={seq_len}"
        )
    return ids[0, : n * seq_len].reshape(n, seq_len)


def sample_windows(ids: Any, seq_len: int, num_samples: int, seed: int) -> Any:
    """``num_samples`` distinct non-overlapping windows chosen at random (seeded)."""
    import torch

    total = ids.shape[1] // seq_len
    if total < num_samples:
        raise InvalidInput(
            f"calibration text gives {total} windows of {seq_len} tokens; asked for {num_samples}"
        )
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(total, generator=gen)[:num_samples].sort().values
    all_windows = ids[0, : total * seq_len].reshape(total, seq_len)
    return all_windows[order]
