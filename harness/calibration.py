"""Turn a method's ``CalibrationSpec`` into token ids, and record what was used.

Three protocols (docs/methods.md, "Calibration data"):

- ``windows`` (the default): the documents joined with ``\\n\\n``, tokenized once, and
  ``num_samples`` distinct seq_len windows drawn at random (seeded): ``[num_samples, seq_len]``.
- ``rows`` (SLEB's and BlockPruner's code): ``num_samples`` documents in a seeded shuffled
  order, joined (C4 " ", WikiText-2 "\\n\\n"), tokenized once and cut into as many seq_len windows
  as the text holds (the remainder dropped): ``[windows, seq_len]``, usually far fewer tokens.
- ``pg19`` (ShortGPT's code): each book tokenized on its own and cut into seq_len windows with
  stride seq_len, the last, shorter window of a book kept; ``num_samples`` windows taken from
  the books in a seeded shuffled order: a list of ``[1, t]`` tensors.
"""

from __future__ import annotations

from typing import Any

from harness.data import DataSource, calibration_documents, calibration_text
from harness.tokens import sample_windows, tokenize_text
from methods.base import CalibrationSpec
from skipbench.errors import InvalidInput


def calibration_ids(
    spec: CalibrationSpec, tokenizer: Any, source: DataSource = "auto"
) -> tuple[Any, dict]:
    """``(ids, record)``; the record goes into the run's method details."""
    if spec.dataset == "pg19":
        return pg19_windows(spec, tokenizer, source)
    if spec.unit == "rows":
        return row_windows(spec, tokenizer, source)
    data = calibration_text(spec.dataset, source)
    ids = tokenize_text(tokenizer, data.text)
    chosen = sample_windows(ids, spec.seq_len, spec.num_samples, spec.seed)
    record = {
        "dataset": spec.dataset,
        "label": data.label,
        "origin": data.origin,
        "num_samples": spec.num_samples,
        "seq_len": spec.seq_len,
        "seed": spec.seed,
        "tokens_available": int(ids.shape[1]),
        "files": data.files,
    }
    return chosen, record


def shuffled_order(count: int, seed: int) -> list[int]:
    """A seeded permutation of ``range(count)`` (torch's generator, so it is the same everywhere)."""
    import torch

    return torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()


def row_windows(
    spec: CalibrationSpec, tokenizer: Any, source: DataSource = "auto"
) -> tuple[Any, dict]:
    """The ``rows`` unit: join ``num_samples`` shuffled documents, tokenize once, cut into windows."""
    data = calibration_documents(spec.dataset, source)
    if spec.num_samples > len(data.docs):
        raise InvalidInput(
            f"calib_samples={spec.num_samples} rows asked for; {data.label} has {len(data.docs)}"
        )
    picked = shuffled_order(len(data.docs), spec.seed)[: spec.num_samples]
    ids = tokenize_text(tokenizer, data.joiner.join(data.docs[i] for i in picked))
    count = ids.shape[1] // spec.seq_len
    if count == 0:
        raise InvalidInput(
            f"{spec.num_samples} rows give {ids.shape[1]} tokens, fewer than one window of "
            f"calib_seq_len={spec.seq_len}; raise calib_samples"
        )
    record = {
        "dataset": spec.dataset,
        "label": f"{data.label}: {spec.num_samples} shuffled rows joined with {data.joiner!r}",
        "origin": data.origin,
        "unit": "rows",
        "num_samples": spec.num_samples,
        "seq_len": spec.seq_len,
        "seed": spec.seed,
        "windows": count,
        "tokens_used": count * spec.seq_len,
        "tokens_available": int(ids.shape[1]),
        "files": data.files,
    }
    return ids[0, : count * spec.seq_len].reshape(count, spec.seq_len), record


def pg19_windows(
    spec: CalibrationSpec, tokenizer: Any, source: DataSource = "auto"
) -> tuple[list, dict]:
    """ShortGPT's PG19 protocol: per-book windows, stride = seq_len, short last windows kept."""
    data = calibration_documents("pg19", source)
    chosen: list = []
    books = 0
    for i in shuffled_order(len(data.docs), spec.seed):
        ids = tokenize_text(tokenizer, data.docs[i])
        books += 1
        for start in range(0, ids.shape[1], spec.seq_len):
            chosen.append(ids[:, start : start + spec.seq_len])
            if len(chosen) == spec.num_samples:
                break
        if len(chosen) == spec.num_samples:
            break
    if len(chosen) < spec.num_samples:
        raise InvalidInput(
            f"calib_samples={spec.num_samples} windows asked for; PG19 validation gives {len(chosen)}"
        )
    record = {
        "dataset": "pg19",
        "label": f"{data.label}: per-book windows of {spec.seq_len} tokens, stride {spec.seq_len}",
        "origin": data.origin,
        "unit": "book windows",
        "num_samples": spec.num_samples,
        "seq_len": spec.seq_len,
        "seed": spec.seed,
        "books": books,
        "tokens_used": int(sum(w.shape[1] for w in chosen)),
        "files": data.files,
    }
    return chosen, record
