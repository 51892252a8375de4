"""Turn a method's ``CalibrationSpec`` into token ids, and record what was used."""

from __future__ import annotations

from typing import Any

from harness.data import DataSource, calibration_text
from harness.tokens import sample_windows, tokenize_text
from methods.base import CalibrationSpec


def calibration_ids(
    spec: CalibrationSpec, tokenizer: Any, source: DataSource = "auto"
) -> tuple[Any, dict]:
    """``([num_samples, seq_len] ids, record)``; the record goes into the run's method details."""
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
