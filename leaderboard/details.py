"""Reading a run's method details and JSON artifacts generically (no Streamlit)."""

from __future__ import annotations

import json
import numbers
from typing import Any

_INDEX_KEYS = {"layer", "layers", "layer_index", "layer_indices", "layer_ids"}


def layer_states(
    details: dict[str, Any] | None, model_info: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One entry per decoder layer: ``state`` removed / token-selective / kept and, for the
    first two, ``order`` (1-based position in the method's removal or selection order)."""
    details = details or {}
    if details.get("removed_sublayers"):
        return sublayer_states(details, model_info)
    removed = [int(i) for i in details.get("removed_layers") or []]
    selective = [
        int(i) for i in (details.get("selection_order") or details.get("selective_layers") or [])
    ]
    kept = [int(i) for i in details.get("kept_layers") or []]
    total = details.get("num_layers_total") or (model_info or {}).get("num_layers")
    if not total:
        total = max([*removed, *selective, *kept], default=-1) + 1
    states = []
    for layer in range(int(total)):
        if layer in removed:
            states.append({"layer": layer, "state": "removed", "order": removed.index(layer) + 1})
        elif layer in selective:
            states.append(
                {"layer": layer, "state": "token-selective", "order": selective.index(layer) + 1}
            )
        else:
            states.append({"layer": layer, "state": "kept", "order": None})
    return states


SUBLAYER_STATES = {
    frozenset({"attn"}): "attention removed",
    frozenset({"mlp"}): "MLP removed",
    frozenset({"attn", "mlp"}): "removed",
}


def sublayer_states(
    details: dict[str, Any], model_info: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """``layer_states`` for a method that removed sublayers (``removed_sublayers``: ``attn.17``,
    ``mlp.3``, in removal order): a layer's state says which of its sublayers went, its
    ``order`` the removal position of the first of them."""
    kinds: dict[int, set[str]] = {}
    first: dict[int, int] = {}
    for position, name in enumerate(details["removed_sublayers"], start=1):
        kind, _, index = str(name).partition(".")
        layer = int(index)
        kinds.setdefault(layer, set()).add(kind)
        first.setdefault(layer, position)
    total = details.get("num_layers_total") or (model_info or {}).get("num_layers")
    total = int(total or max(kinds, default=-1) + 1)
    return [
        {"layer": i, "state": SUBLAYER_STATES[frozenset(kinds[i])], "order": first[i]}
        if i in kinds
        else {"layer": i, "state": "kept", "order": None}
        for i in range(total)
    ]


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_number_list(value: Any) -> bool:
    """A list of numbers, gaps (None) allowed: e.g. a change curve that starts at layer 1."""
    return (
        isinstance(value, list)
        and sum(_is_number(v) for v in value) >= 2
        and all(v is None or _is_number(v) for v in value)
    )


def numeric_series(payload: Any, prefix: str = "", depth: int = 0) -> dict[str, list[float | None]]:
    """Every list of numbers in a JSON payload (nested dicts walked, layer-index lists skipped),
    named by its path: the per-layer curves of a diagnostic such as ``sink``."""
    found: dict[str, list[float | None]] = {}
    if _is_number_list(payload):
        found[prefix or "value"] = [None if v is None else float(v) for v in payload]
    elif isinstance(payload, dict) and depth < 3:
        for key, value in payload.items():
            if str(key).lower() in _INDEX_KEYS:
                continue
            found.update(
                numeric_series(value, f"{prefix}{key}", depth + 1)
                if not isinstance(value, dict)
                else numeric_series(value, f"{prefix}{key}.", depth + 1)
            )
    return found


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def record_tables(
    payload: Any, prefix: str = "", depth: int = 0
) -> dict[str, list[dict[str, Any]]]:
    """Every list of JSON objects in a payload (e.g. per-sample records per task), flattened
    so each cell is a scalar (lists and objects become JSON text)."""
    found: dict[str, list[dict[str, Any]]] = {}
    if _is_record_list(payload):
        found[prefix or "records"] = [
            {
                k: v if v is None or isinstance(v, (str, int, float, bool)) else json.dumps(v)
                for k, v in rec.items()
            }
            for rec in payload
        ]
    elif isinstance(payload, dict) and depth < 3:
        for key, value in payload.items():
            found.update(
                record_tables(value, f"{prefix}{key}", depth + 1)
                if not isinstance(value, dict)
                else record_tables(value, f"{prefix}{key}.", depth + 1)
            )
    return found


PREVIEW_CHARS = 160  # prompt characters shown in the per-sample table (the rest on demand)
METRIC_KEYS = ("acc", "acc_norm", "score", "exact_match", "f1", "perplexity")


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def _pick(options: Any, index: Any) -> str:
    """``options[index]`` (a choice's text) when both are there, else the index as text."""
    if isinstance(index, bool) or not isinstance(index, int):
        return "" if index is None else str(index)
    if isinstance(options, list) and 0 <= index < len(options):
        return f"{options[index].strip()} ({index})"
    return str(index)


def _decoded(value: Any) -> Any:
    """A list ``record_tables`` turned into JSON text, back as a list (other values as is)."""
    if isinstance(value, str) and value.startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def sample_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Readable per-sample rows from a suite's stored records: the prompt or question (full
    text under ``full prompt``, a one-line preview under ``prompt``), the model's choice or
    output, the gold answer and the metric. Records stored before prompts were kept say so
    (their prompt hash is all there is)."""
    rows = []
    for i, flat in enumerate(records):
        rec = {k: _decoded(v) for k, v in flat.items()}
        prompt = rec.get("prompt") or rec.get("question") or rec.get("prompt_tail") or ""
        if not prompt and rec.get("prompt_hash"):
            prompt_note = f"(prompt not stored; sha256 {str(rec['prompt_hash'])[:12]}…)"
        else:
            prompt_note = ""
        choices = rec.get("choices")
        if "prediction" in rec:
            output = str(rec["prediction"])
            answers = rec.get("answers")
            gold = (
                " | ".join(map(str, answers)) if isinstance(answers, list) else str(answers or "")
            )
        else:
            chosen = rec.get("choice")
            if (
                chosen is None
                and isinstance(rec.get("loglikelihoods"), list)
                and rec["loglikelihoods"]
            ):
                lls = rec["loglikelihoods"]
                chosen = max(range(len(lls)), key=lls.__getitem__)
            output, gold = _pick(choices, chosen), _pick(choices, rec.get("target"))
        metric = ", ".join(f"{k}={rec[k]:g}" if isinstance(rec[k], (int, float)) else f"{k}={rec[k]}"
                           for k in METRIC_KEYS if k in rec and rec[k] is not None)  # fmt: skip
        rows.append(
            {
                "sample": rec.get("doc_id", rec.get("id", i)),
                "prompt": _preview(str(prompt)) if prompt else prompt_note,
                "model's answer": _preview(output),
                "gold": _preview(gold),
                "metric": metric,
                "full prompt": str(prompt),
                "full answer": output,
                "choices": "\n".join(f"{n}: {c}" for n, c in enumerate(choices or [])),
            }
        )
    return rows
