"""A run's evaluation settings and provenance as short readable texts (no Streamlit).

The board, compare and run detail show the same words: ``Limit`` (``full`` or per suite
``perplexity=1``), ``Seq len``, ``Calibration`` (``c4 · 128 × 2048 tokens``) and the layer
``Strategy`` (OrthoRank's ``layers=`` choice, ``remove`` for layer removal).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

SETTING_COLUMNS = ["Strategy", "Limit", "Seq len", "Calibration"]


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def strategy_text(method_config: Any, details: Any) -> str:
    """How the method picked its layers: OrthoRank's ``layers`` (``last``, ``sleb``, an explicit
    list), ``remove`` for methods that removed layers, blank for dense."""
    config, found = _mapping(method_config), _mapping(details)
    if "layers" in config:
        return str(config["layers"])
    if found.get("layer_strategy"):
        return str(found["layer_strategy"])
    return "remove" if found.get("removed_layers") or found.get("removed_sublayers") else ""


def limit_text(suites: Any) -> str:
    """``full`` when no suite had a limit, else each limited suite's ``suite=limit``."""
    limited = [
        f"{name}={cfg['limit']}"
        for name, cfg in sorted(_mapping(suites).items())
        if isinstance(cfg, Mapping) and not _blank(cfg.get("limit"))
    ]
    return ", ".join(limited) or ("full" if _mapping(suites) else "")


def seq_len_text(suites: Any) -> str:
    """The evaluation sequence length(s): one number when the suites agree, else per suite."""
    found = {
        name: cfg["seq_len"]
        for name, cfg in sorted(_mapping(suites).items())
        if isinstance(cfg, Mapping) and not _blank(cfg.get("seq_len"))
    }
    if len(set(map(str, found.values()))) == 1:
        return str(next(iter(found.values())))
    return ", ".join(f"{k}={v}" for k, v in found.items())


def calibration_text(details: Any) -> str:
    """``c4 · 128 × 2048 tokens`` (data set, samples x length, unit); blank without calibration."""
    record = _mapping(_mapping(details).get("calibration"))
    if not record:
        return ""
    name = record.get("label") or record.get("dataset") or "?"
    return f"{name} · {record.get('num_samples', '?')} × {record.get('seq_len', '?')} tokens"


def setting_values(run: Mapping[str, Any]) -> dict[str, str]:
    """The ``SETTING_COLUMNS`` of one run (or merged row's anchor run)."""
    return {
        "Strategy": strategy_text(run.get("method_config"), run.get("method_details")),
        "Limit": limit_text(run.get("suites")),
        "Seq len": seq_len_text(run.get("suites")),
        "Calibration": calibration_text(run.get("method_details")),
    }


def text(value: Any) -> str:
    """A JSON value as one readable line: scalars as they are, lists comma-joined, objects as
    ``key=value`` pairs; blank for None/NaN (never the word None)."""
    if _blank(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(text(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={text(v)}" for k, v in value.items())
    return str(value)


def flatten(value: Any, prefix: str = "", depth: int = 0) -> dict[str, str]:
    """Nested JSON as ``{"a.b": "text"}`` (two levels deep, the rest as one line each)."""
    if isinstance(value, Mapping) and depth < 2 and value:
        out: dict[str, str] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}{key}.", depth + 1))
        return out
    return {prefix.rstrip(".") or "value": text(value)}


def realized_sparsity(details: Any) -> str:
    """``3 of 30 layers (10.0%), 8.1% of parameters`` from a method's ``sparsity`` record."""
    found = _mapping(details)
    record = _mapping(found.get("sparsity"))
    total = found.get("num_layers_total")
    touched = found.get("removed_layers") or found.get("selective_layers") or []
    sublayers = found.get("removed_sublayers") or []
    parts = []
    if sublayers and found.get("num_sublayers_total"):
        parts.append(f"{len(sublayers)} of {found['num_sublayers_total']} sublayers removed")
    elif total:
        verb = "removed" if found.get("removed_layers") else "token-selective"
        parts.append(f"{len(touched)} of {total} layers {verb}")
    if not _blank(record.get("realized")):
        parts.append(f"realized {float(record['realized']):.1%}")
    if not _blank(record.get("param_fraction_removed")):
        parts.append(f"{float(record['param_fraction_removed']):.1%} of parameters removed")
    return ", ".join(parts)


def calibration_hashes(details: Any) -> str:
    """The calibration file(s) and their sha256 (``path sha256`` per line)."""
    files = _mapping(_mapping(_mapping(details).get("calibration")).get("files"))
    return "\n".join(f"{path}  {digest}" for path, digest in files.items())


def model_fields(run: Mapping[str, Any]) -> dict[str, str]:
    """Model identity and size for the run detail page (blank where not stored)."""
    info = _mapping(run.get("model_info"))
    params = run.get("model_params")
    return {
        "model id": text(run.get("model_id")),
        "revision": text(run.get("model_revision")),
        "weights hash": text(run.get("model_hash")),
        "dtype": text(run.get("model_dtype")),
        "parameters": f"{int(params):,}" if not _blank(params) and params else "",
        "random weights": text(bool(run.get("random_weights")))
        if not _blank(run.get("random_weights"))
        else "",
        "layers": text(info.get("num_layers")),
        "realized sparsity": realized_sparsity(run.get("method_details")),
        "calibration": calibration_text(run.get("method_details")),
        "calibration files (sha256)": calibration_hashes(run.get("method_details")),
        "job": "" if _blank(run.get("job_id")) else f"#{int(run['job_id'])}",
    }


def json_text(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, default=str)
