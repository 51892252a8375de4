"""Checks that need the model's config but not its weights: run before anything is loaded.

``model_facts`` reads the layer count and context window from what names the model without
building it: a shipped ``config:`` file, a local folder's (or fetched catalog model's)
``config.json``. A hub model or a ``.gguf`` file gives no facts here (the run checks them once
loaded), nor does a local path that does not exist on this machine (at ``submit`` it may exist
only on the worker).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import random_models
from harness.models import resolve_source
from skipbench.errors import InvalidInput

# a worker process sees one GPU (CUDA_VISIBLE_DEVICES is pinned per worker), or none
WORKER_DEVICES = ("auto", "cpu", "cuda", "cuda:0")


@dataclass(frozen=True)
class ModelFacts:
    source: str
    num_layers: int | None = None
    context_window: int | None = None  # max_position_embeddings
    random_weights: bool = False


def _config_value(config: dict[str, Any], key: str) -> int | None:
    for scope in (config, config.get("text_config") or {}):
        value = scope.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def model_facts(source: str, *, missing_ok: bool = False) -> ModelFacts | None:
    """What the config of ``source`` says, or None where it cannot be read without loading.

    ``missing_ok``: a source that does not resolve here (no such folder, catalog model not
    fetched) gives None instead of an ``InvalidInput``.
    """
    try:
        resolved = resolve_source(source)
    except InvalidInput:
        if missing_ok and not source.startswith(random_models.PREFIX):
            return None
        raise
    if resolved.kind == "random":
        config: dict[str, Any] = random_models.config_dict(resolved.location)
    elif resolved.kind == "folder":
        try:
            config = json.loads((Path(resolved.location) / "config.json").read_text())
        except (OSError, ValueError):
            return None  # unreadable: loading the model reports it
        if not isinstance(config, dict):
            return None
    else:
        return None
    return ModelFacts(
        source,
        _config_value(config, "num_hidden_layers"),
        _config_value(config, "max_position_embeddings"),
        resolved.kind == "random",
    )


def check_context_window(suites: list[Any], window: int | None) -> None:
    """A suite's ``seq_len`` (perplexity windows) cannot exceed the model's context window."""
    if window is None:
        return
    for suite in suites:
        seq_len = getattr(suite.config, "seq_len", None)
        if isinstance(seq_len, int) and seq_len > window:
            raise InvalidInput(
                f"seq_len={seq_len} exceeds the model's context window of {window} tokens "
                f"(suite {suite.name}; allowed: 2 to {window})"
            )


def check_random_weights(source: str, random_weights: bool, suites: list[Any]) -> None:
    if not random_weights:
        return
    quality = [s.name for s in suites if s.needs_real_weights]
    if quality:
        raise InvalidInput(
            f"model {source!r} has random weights; suite(s) {', '.join(quality)} "
            "measure quality and need real weights (only 'throughput' accepts config: models)"
        )


def check_worker_device(device: str) -> None:
    """A job's device must be one a worker can have: each worker sees one GPU, as cuda:0."""
    if device not in WORKER_DEVICES:
        raise InvalidInput(
            f"device={device!r} cannot run on a worker: each worker sees one GPU (cuda:0) or "
            f"none; allowed: {', '.join(WORKER_DEVICES)} (pick the GPU with `skipbench worker --gpus`)"
        )
