"""Published numbers as data: ``results/reported/*.yaml`` into the store (``skipbench import
--reported``).

A file names its paper (``paper``, ``arxiv``, optional ``defaults``) and lists ``entries``, one
per number: model, method and its ``setting``, sparsity, suite, task, metric, value, the table and
the source URL (an entry's own keys override the file's). Entries of one paper, table, model,
method, setting, sparsity, suite and protocol become one run with status ``reported`` and
``provenance.origin.kind = "reported"``: readers of measured numbers filter on ``succeeded``, so a
reported number is never counted, exported or ranked as a measurement. Percentages are stored as
fractions (the zero-shot suite's unit); the printed value is kept in the origin.

Everything is validated before anything is stored (one line naming file, entry and field); a
group already stored with the same content is left alone, one whose numbers changed is replaced.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.engine import session_scope, upgrade
from db.models import Result, Run, utcnow
from skipbench.errors import InvalidInput

REPORTED = "reported"  # the run status and provenance.origin.kind of a published number
REQUIRED = ("paper", "arxiv", "table", "model", "method", "suite", "task", "metric", "value",
            "source")  # fmt: skip
OPTIONAL = ("setting", "sparsity", "protocol", "unit", "higher_is_better", "model_as_printed",
            "note")  # fmt: skip
FILE_KEYS = {"paper", "arxiv", "read_from", "defaults", "entries"}
LOWER_IS_BETTER = {"perplexity", "nll", "latency_ms"}
UNITS = {"", "percent", "fraction", "ms", "×"}
_ARXIV = re.compile(r"^\d{4}\.\d{4,5}$")
# one run per group: the number's identity without the task, metric and value
GROUP_KEYS = ("paper", "arxiv", "table", "model", "method", "setting", "sparsity", "suite",
              "protocol")  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """One published number, validated."""

    paper: str
    arxiv: str
    table: str
    model: str
    method: str
    suite: str
    task: str
    metric: str
    value: float
    source: str
    setting: dict[str, Any] = field(default_factory=dict)
    sparsity: float = 0.0
    protocol: dict[str, Any] = field(default_factory=dict)
    unit: str = ""
    higher_is_better: bool = True
    model_as_printed: str = ""
    note: str = ""

    def group(self) -> tuple[str, ...]:
        return tuple(json.dumps(getattr(self, k), sort_keys=True) for k in GROUP_KEYS)


def _bad(where: str, what: str) -> InvalidInput:
    return InvalidInput(f"{where}: {what}")


def _entry(raw: Any, base: dict[str, Any], where: str) -> Entry:
    if not isinstance(raw, dict):
        raise _bad(where, "an entry must be a mapping of field: value")
    data = {**base, **raw}
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise _bad(
            where, f"unknown field {unknown[0]!r}; allowed: {', '.join(REQUIRED + OPTIONAL)}"
        )
    missing = [k for k in REQUIRED if data.get(k) in (None, "")]
    if missing:
        raise _bad(where, f"missing {missing[0]!r} (every entry needs {', '.join(REQUIRED)})")
    for key in ("paper", "table", "model", "method", "suite", "task", "metric", "source"):
        if not isinstance(data[key], str):
            raise _bad(where, f"{key} must be text, not {data[key]!r}")
    if not _ARXIV.match(str(data["arxiv"])):
        raise _bad(where, f"arxiv {data['arxiv']!r} is not an arXiv id like 2402.09025")
    if not str(data["source"]).startswith(("https://", "http://")):
        raise _bad(where, f"source {data['source']!r} must be a URL (https://...)")
    value = data["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(where, f"value {value!r} must be a finite number")
    sparsity = data.get("sparsity", 0.0)
    if (
        isinstance(sparsity, bool)
        or not isinstance(sparsity, (int, float))
        or not 0 <= sparsity < 1
    ):
        raise _bad(where, f"sparsity {sparsity!r} must be a number in [0, 1)")
    for key in ("setting", "protocol"):
        if not isinstance(data.get(key, {}), dict):
            raise _bad(where, f"{key} must be a mapping, not {data[key]!r}")
    unit = data.get("unit", "")
    if unit not in UNITS:
        raise _bad(where, f"unit {unit!r}; allowed: {', '.join(repr(u) for u in sorted(UNITS))}")
    if unit == "percent" and not 0 <= value <= 100:
        raise _bad(where, f"value {value} is not a percentage (0-100)")
    hib = data.get("higher_is_better", data["metric"] not in LOWER_IS_BETTER)
    if not isinstance(hib, bool):
        raise _bad(where, f"higher_is_better must be true or false, not {hib!r}")
    return Entry(
        **{k: data[k] for k in REQUIRED if k not in ("arxiv", "value")},
        arxiv=str(data["arxiv"]), value=float(value), sparsity=float(sparsity),
        setting=dict(data.get("setting") or {}), protocol=dict(data.get("protocol") or {}),
        unit=unit, higher_is_better=hib, model_as_printed=str(data.get("model_as_printed", "")),
        note=str(data.get("note", "")),
    )  # fmt: skip


def read(path: Path) -> list[Entry]:
    """The file's entries, every one validated; the first problem is one line."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _bad(str(path), f"cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise _bad(path.name, f"not valid YAML{at}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list) or not doc["entries"]:
        raise _bad(path.name, "a reported-numbers file needs paper, arxiv and a list of entries")
    unknown = sorted(set(doc) - FILE_KEYS)
    if unknown:
        raise _bad(path.name, f"unknown top-level key {unknown[0]!r}; allowed: {sorted(FILE_KEYS)}")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise _bad(path.name, "defaults must be a mapping")
    base = {**{k: doc[k] for k in ("paper", "arxiv") if k in doc}, **defaults}
    entries = [
        _entry(raw, base, f"{path.name}: entry {i}") for i, raw in enumerate(doc["entries"], 1)
    ]
    seen: dict[tuple[Any, ...], int] = {}
    for i, e in enumerate(entries, 1):
        key = (*e.group(), e.task, e.metric)
        if key in seen:
            raise _bad(
                f"{path.name}: entry {i}",
                f"repeats entry {seen[key]} ({e.model} · "
                f"{e.method} · {e.task} {e.metric}) with the same setting and table",
            )
        seen[key] = i
    return entries


def stored_value(e: Entry) -> tuple[float, str]:
    """Percentages as fractions, like the suites store accuracy."""
    return (e.value / 100.0, "fraction") if e.unit == "percent" else (e.value, e.unit)


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass
class ReportedImport:
    added: int = 0  # runs stored
    replaced: int = 0  # runs whose numbers changed in the file
    already: int = 0  # runs stored before, unchanged
    numbers: int = 0  # entries read


def _run_for(group: list[Entry], file: Path, key: str, digest: str) -> Run:
    first = group[0]
    origin = {
        "kind": REPORTED, "paper": first.paper, "arxiv": first.arxiv, "table": first.table,
        "source": first.source, "file": file.name, "protocol": first.protocol,
        "model_as_printed": first.model_as_printed, "reported_key": key, "reported_sha256": digest,
        "imported_at": utcnow().isoformat(),
        "printed": {f"{e.task}/{e.metric}": e.value for e in group},
        "notes": sorted({e.note for e in group if e.note}),
    }  # fmt: skip
    suite_config = {**first.protocol, "reported": True}
    return Run(
        status=REPORTED, model_id=first.model, model_dtype="unknown", method_name=first.method,
        method_config={**first.setting, "sparsity": first.sparsity} if first.method != "dense"
        else dict(first.setting), method_details={}, sparsity=first.sparsity,
        suites={first.suite: suite_config}, seed=0, device=None,
        provenance={"origin": origin}, data_files={}, finished_at=utcnow(),
    )  # fmt: skip


def import_reported(url: str, files: list[Path]) -> ReportedImport:
    """Validate every file, then store the groups in one transaction (idempotent)."""
    groups: dict[str, tuple[list[Entry], Path]] = {}
    report = ReportedImport()
    for path in files:
        for e in read(path):
            key = _digest(e.group())
            groups.setdefault(key, ([], path))[0].append(e)
            report.numbers += 1
    upgrade(url)
    with session_scope(url) as s:
        existing = _existing(s)
        for key, (group, path) in groups.items():
            digest = _digest([(e.task, e.metric, e.value, e.unit, e.source, e.note) for e in group])
            old = existing.get(key)
            if (
                old is not None
                and (old.provenance or {}).get("origin", {}).get("reported_sha256") == digest
            ):
                report.already += 1
                continue
            if old is not None:
                s.delete(old)
                s.flush()
                report.replaced += 1
            else:
                report.added += 1
            run = _run_for(group, path, key, digest)
            s.add(run)
            s.flush()
            for e in group:
                value, unit = stored_value(e)
                s.add(Result(run_id=run.id, suite=e.suite, task=e.task, metric=e.metric,
                             value=value, unit=unit, higher_is_better=e.higher_is_better,
                             display_name=""))  # fmt: skip
            s.flush()
    return report


def _existing(s: Session) -> dict[str, Run]:
    found: dict[str, Run] = {}
    for run in s.scalars(select(Run).where(Run.status == REPORTED)):
        key = ((run.provenance or {}).get("origin") or {}).get("reported_key")
        if key:
            found[key] = run
    return found
