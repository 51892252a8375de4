"""Export stored runs to a result bundle and import one back (``skipbench export`` / ``import``).

Import is one transaction (all runs or none) and idempotent: a run is stored once per identity
(``provenance.spec_key``) and content (``bundle_format.run_sha256``: model, method, details,
results and provenance, not the artifacts), so importing the same file twice, or a run back into
the store it came from, adds nothing. An imported run keeps where it came from in
``provenance.origin`` (file, exporting host, export and import times, hashes, its old run id);
runs measured in this store have no ``origin``.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

import skipbench
from db.bundle_format import SAMPLE_ARTIFACTS, Bundle, RunIn, run_sha256
from db.engine import session_scope, upgrade
from db.models import Artifact, Result, Run, utcnow
from db.run_index import spec_key_column
from skipbench.errors import InvalidInput
from skipbench.records import MODEL_KEYS, PROVENANCE_KEYS, run_from_dict, run_to_dict

_PG_IMPORT_LOCK = 7_246_302  # advisory lock: concurrent imports of one run store it once


def iso(value: datetime | None) -> str | None:
    """UTC ISO text with microseconds (SQLite reads back naive UTC, PostgreSQL aware)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"bundle time {value!r} is not ISO 8601") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def normalize(record: dict[str, Any]) -> dict[str, Any]:
    """A bundle run in its full, canonical form (defaults filled, times in one format)."""
    full = RunIn.model_validate(record).model_dump(mode="json", warnings="error")
    for key in ("created_at", "finished_at"):
        full[key] = iso(_parse_time(full[key]))
    full["results"] = sorted(full["results"], key=lambda r: (r["suite"], r["task"], r["metric"]))
    full["artifacts"] = sorted(full["artifacts"], key=lambda a: (a["suite"], a["name"]))
    return full


def run_record(run: Run, results: list[Result], artifacts: list[Artifact]) -> dict[str, Any]:
    """A stored run as a bundle run: its ``run_to_dict`` (``skipbench run --json``) + artifacts."""
    shadowed = sorted(set(run.model_info or {}) & set(MODEL_KEYS)) + sorted(
        set(run.provenance or {}) & set(PROVENANCE_KEYS)
    )
    if shadowed:
        raise InvalidInput(
            f"run {run.id}: model_info or provenance key {shadowed[0]!r} is hidden by the run's "
            f"own field of that name in run_to_dict; such a run cannot be exported exactly"
        )
    payloads = [{"suite": a.suite, "name": a.name, "payload": a.payload} for a in artifacts]
    return normalize({**run_to_dict(run, results), "artifacts": payloads})


def _record_of(s: Session, run: Run, with_samples: bool = True) -> dict[str, Any]:
    results = list(s.scalars(select(Result).where(Result.run_id == run.id)))
    artifacts = [
        a
        for a in s.scalars(select(Artifact).where(Artifact.run_id == run.id))
        if with_samples or a.name not in SAMPLE_ARTIFACTS
    ]
    return run_record(run, results, artifacts)


def export_runs(
    url: str,
    model: str | None = None,
    method: str | None = None,
    run_ids: list[int] | None = None,
    with_samples: bool = False,
) -> list[dict[str, Any]]:
    """Succeeded runs matching every given filter, as bundle runs (oldest first)."""
    upgrade(url)
    with session_scope(url) as s:
        q = select(Run).where(Run.status == "succeeded").order_by(Run.id)
        if model:
            q = q.where(Run.model_id == model)
        if method:
            q = q.where(Run.method_name == method)
        if run_ids:
            q = q.where(Run.id.in_(run_ids))
        runs = list(s.scalars(q))
        if run_ids:
            missing = sorted(set(run_ids) - {r.id for r in runs})
            if missing:
                raise InvalidInput(
                    f"--run {', '.join(map(str, missing))}: no succeeded run with that id "
                    "(matching the other filters); see `skipbench results`"
                )
        return [_record_of(s, run, with_samples) for run in runs]


def bundle_header(filters: dict[str, Any]) -> dict[str, Any]:
    return {
        "created_at": iso(utcnow()),
        "exporter": {"host": platform.node(), "skipbench": skipbench.__version__},
        "filters": filters,
    }


@dataclass
class ImportReport:
    added: list[int] = field(default_factory=list)  # new run ids
    already: list[int] = field(default_factory=list)  # runs that were stored before
    artifacts_added: int = 0  # artifacts a stored run lacked (e.g. samples arriving later)


def _same_run(s: Session, record: dict[str, Any], digest: str) -> Run | None:
    key = (record["provenance"] or {}).get("spec_key")
    q = select(Run).where(Run.status == "succeeded").order_by(Run.id)
    if key:
        q = q.where(spec_key_column() == key)
    else:
        q = q.where(
            Run.model_id == record["model"]["id"], Run.method_name == record["method"]["name"]
        )
    for run in s.scalars(q):
        if run_sha256(_record_of(s, run, with_samples=False)) == digest:
            return run
    return None


def _origin(record: dict[str, Any], bundle: Bundle, file: Path, digest: str) -> dict[str, Any]:
    origin = {
        "file": file.name,
        "path": str(file.resolve()),
        "host": (bundle.header.get("exporter") or {}).get("host"),
        "exported_at": bundle.header.get("created_at"),
        "imported_at": iso(utcnow()),
        "imported_on": platform.node(),
        "bundle_sha256": bundle.sha256,
        "run_sha256": digest,
        "source_run_id": record.get("run_id"),
    }
    earlier = (record["provenance"] or {}).get("origin")
    if earlier:
        origin["previous"] = earlier
    return origin


def import_bundle(url: str, bundle: Bundle, file: str | Path) -> ImportReport:
    """Store the bundle's runs in one transaction; runs already stored are not stored again."""
    upgrade(url)
    report = ImportReport()
    path = Path(file)
    with session_scope(url) as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_IMPORT_LOCK})
        for raw in bundle.runs:
            record = normalize(raw)
            digest = run_sha256(record)
            same = _same_run(s, record, digest)
            if same is not None:
                report.already.append(same.id)
                report.artifacts_added += _add_missing_artifacts(s, same.id, record["artifacts"])
                continue
            report.added.append(_insert(s, record, _origin(record, bundle, path, digest)))
    return report


def _insert(s: Session, data: dict[str, Any], origin: dict[str, Any]) -> int:
    record, results = run_from_dict(data)
    run = Run(
        **{**record.columns(), "provenance": {**record.provenance, "origin": origin}},
        status="succeeded",
        created_at=record.created_at or utcnow(),
        finished_at=record.finished_at,
    )
    s.add(run)
    s.flush()
    for row in results:
        s.add(Result(run_id=run.id, **asdict(row)))
    for art in data["artifacts"]:
        s.add(Artifact(run_id=run.id, **art))
    s.flush()  # a duplicate result or artifact fails here, inside the one transaction
    return run.id


def _add_missing_artifacts(s: Session, run_id: int, artifacts: list[dict[str, Any]]) -> int:
    have = {(a.suite, a.name) for a in s.scalars(select(Artifact).where(Artifact.run_id == run_id))}
    added = 0
    for art in artifacts:
        if (art["suite"], art["name"]) not in have:
            s.add(Artifact(run_id=run_id, **art))
            have.add((art["suite"], art["name"]))
            added += 1
    return added
