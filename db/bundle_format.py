"""The result-bundle file: one JSON document, or JSON Lines, with a format version and a sha256.

JSON:       {"format", "format_version", "created_at", "exporter", "filters", "run_count",
             "runs": [RUN, ...], "sha256"}
RUN:        ``run_to_dict``'s object (the ``skipbench run --json`` contract; ``run_id`` is the
            exporting store's id) plus "artifacts" [{"suite", "name", "payload"}].
JSON Lines: line 1 the header (the same keys but runs and sha256), one RUN per line, and a last
            line {"sha256": ...}.
Both hash the same content: sha256 of the canonical JSON (sorted keys, no spaces) of the header
with "runs", so a file converted from one form to the other keeps its hash. A run's own
``run_sha256`` (its identity for idempotent imports) leaves out where it was stored: the
exporting store's run id, any ``provenance.origin`` of an earlier import, and the artifacts (a
bundle with per-sample logs and one without carry the same runs).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from skipbench.errors import InvalidInput
from skipbench.records import (
    METHOD_KEYS,
    MODEL_KEYS,
    PROVENANCE_KEYS,
    RESULT_KEYS,
    ResultRow,
    RunRecord,
)

FORMAT = "skipbench-bundle"
FORMAT_VERSION = 1
SAMPLE_ARTIFACTS = ("samples",)  # per-sample logs: exported only with --with-samples


class BundleError(InvalidInput):
    """A file that is not a readable bundle (corrupt, truncated, foreign, tampered)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class _Open(BaseModel):  # "model" and "provenance" also carry model_info / provenance keys
    model_config = ConfigDict(extra="allow", strict=False)


def _fields_of(cls: type, keys: Mapping[str, str]) -> dict[str, Any]:
    """Pydantic field definitions, JSON key -> (type, default), from dataclass ``cls``'s fields."""
    hints = get_type_hints(cls)
    by_name = {f.name: f for f in fields(cls)}
    defs: dict[str, Any] = {}
    for key, attr in keys.items():
        f = by_name[attr]
        if f.default is not MISSING:
            default: Any = f.default
        elif f.default_factory is not MISSING:
            default = Field(default_factory=f.default_factory)
        else:
            default = ...
        defs[key] = (hints[attr], default)
    return defs


def _model(name: str, base: type[BaseModel], /, **defs: Any) -> type[BaseModel]:
    return create_model(name, __base__=base, **defs)


# a bundle run is run_to_dict's shape: its fields are RunRecord's and ResultRow's
ResultIn = _model("ResultIn", _Strict, **_fields_of(ResultRow, {k: k for k in RESULT_KEYS}))
ModelIn = _model("ModelIn", _Open, **_fields_of(RunRecord, MODEL_KEYS))
MethodIn = _model("MethodIn", _Strict, **_fields_of(RunRecord, METHOD_KEYS))
ProvenanceIn = _model("ProvenanceIn", _Open, **_fields_of(RunRecord, PROVENANCE_KEYS))


class ArtifactIn(_Strict):
    suite: str
    name: str
    payload: Any


RunIn = _model(
    "RunIn",
    _Strict,
    run_id=(int | None, None),  # its id in the exporting store
    status=(Literal["succeeded"], ...),
    error=(None, None),
    created_at=(str | None, None),
    finished_at=(str | None, None),
    model=(ModelIn, ...),
    method=(MethodIn, ...),
    **_fields_of(RunRecord, {k: k for k in ("sparsity", "suites", "seed")}),
    results=(list[ResultIn], ...),  # type: ignore[valid-type]
    provenance=(ProvenanceIn, Field(default_factory=ProvenanceIn)),
    artifacts=(list[ArtifactIn], []),  # only in a bundle: the run's stored artifacts
)


class HeaderIn(_Strict):
    format: Literal["skipbench-bundle"]
    format_version: int
    created_at: str
    exporter: dict[str, Any]
    filters: dict[str, Any] = {}
    run_count: int


@dataclass(frozen=True)
class Bundle:
    header: dict[str, Any]
    runs: list[dict[str, Any]]
    sha256: str


def canonical(obj: Any) -> bytes:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def content_sha256(header: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    return hashlib.sha256(canonical({**header, "runs": runs})).hexdigest()


def run_sha256(run: dict[str, Any]) -> str:
    """Identity of a run's content, wherever it is stored."""
    provenance = {k: v for k, v in (run.get("provenance") or {}).items() if k != "origin"}
    body = {k: v for k, v in run.items() if k not in ("run_id", "provenance", "artifacts")}
    return hashlib.sha256(canonical({**body, "provenance": provenance})).hexdigest()


def check_name(path: str | Path, flag: str = "-o") -> None:
    """A bundle's file name says its form: .json, or .jsonl/.ndjson for JSON Lines."""
    if not str(path).endswith((".json", ".jsonl", ".ndjson")):
        raise InvalidInput(f"{flag} {str(path)!r}: the bundle name must end .json or .jsonl")


def is_jsonl(path: str | Path) -> bool:
    return str(path).endswith((".jsonl", ".ndjson"))


def write(path: str | Path, header: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    """Write the bundle (JSON Lines if the name ends .jsonl); returns its sha256."""
    header = {**header, "format": FORMAT, "format_version": FORMAT_VERSION, "run_count": len(runs)}
    digest = content_sha256(header, runs)
    target = Path(path)
    tmp = target.with_name(target.name + ".partial")
    with tmp.open("w", encoding="utf-8") as f:
        if is_jsonl(target):
            f.write(json.dumps(header, sort_keys=True, allow_nan=False) + "\n")
            for run in runs:
                f.write(json.dumps(run, sort_keys=True, allow_nan=False) + "\n")
            f.write(json.dumps({"sha256": digest}) + "\n")
        else:
            doc = {**header, "runs": runs, "sha256": digest}
            json.dump(doc, f, sort_keys=True, indent=1, allow_nan=False)
            f.write("\n")
    tmp.replace(target)
    return digest


def _parse(path: Path) -> tuple[dict[str, Any], list[Any], Any]:
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"{name}: not a SkipBench bundle (not UTF-8 text)") from None
    try:
        if is_jsonl(path):
            lines = [json.loads(line) for line in text.splitlines() if line.strip()]
            if not lines or not isinstance(lines[0], dict):
                raise BundleError(f"{name}: not a SkipBench bundle (no header line)")
            footer = lines[-1] if len(lines) > 1 else {}
            if not isinstance(footer, dict) or set(footer) != {"sha256"}:
                _check_format(name, lines[0])
                raise BundleError(f"{name}: truncated bundle (no sha256 line at the end)")
            return lines[0], lines[1:-1], footer["sha256"]
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(
            f"{name}: corrupt or truncated bundle (invalid JSON at {exc.pos})"
        ) from None
    if not isinstance(doc, dict):
        raise BundleError(f"{name}: not a SkipBench bundle (a JSON {type(doc).__name__})")
    runs = doc.pop("runs", None)
    digest = doc.pop("sha256", None)
    return doc, runs if isinstance(runs, list) else [], digest


def _check_format(name: str, header: dict[str, Any]) -> None:
    if header.get("format") != FORMAT:
        raise BundleError(f"{name}: not a SkipBench bundle (format {header.get('format')!r})")
    version = header.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise BundleError(
            f"{name}: bundle format version {version!r}; this SkipBench reads 1..{FORMAT_VERSION}"
        )


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e["loc"])
    return f"{where}: {e['msg']}"


def read(path: str | Path) -> Bundle:
    """Parse and verify (format, version, hash, schema); raises ``BundleError`` in one line."""
    file = Path(path)
    if not file.is_file():
        raise BundleError(f"bundle file {str(path)!r} does not exist")
    header, runs, digest = _parse(file)
    _check_format(file.name, header)
    if header.get("run_count") != len(runs):
        raise BundleError(
            f"{file.name}: truncated bundle ({len(runs)} runs, header says {header.get('run_count')})"
        )
    if not isinstance(digest, str) or content_sha256(header, runs) != digest:
        raise BundleError(
            f"{file.name}: content sha256 does not match (the file was altered or damaged)"
        )
    for where, model, item in [("header", HeaderIn, header)] + [
        (f"run {i}", RunIn, run) for i, run in enumerate(runs, 1)
    ]:
        try:
            model.model_validate(item)
        except ValidationError as exc:
            raise BundleError(f"{file.name}: schema: {where}: {_first_error(exc)}") from None
    return Bundle(header, runs, digest)
