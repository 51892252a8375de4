"""A run's record, built once from the loaded model, and kept in the store or only in memory.

``new_record`` is the one place that turns a loaded model and a method into a ``RunRecord``
(evaluation runs and diagnostic runs alike). ``RecordedRun`` writes through to a store when
there is one: the run row exists from ``open`` on, ends ``succeeded`` or ``failed`` with the
error, and each suite is stored in one call (one transaction). Without a store the same record
is kept in memory, and ``succeed`` returns the same JSON shape (``run_to_dict``) either way.
A run records the process that runs it (``provenance.process``: host, pid, start time, boot
id), so that a run left ``running`` by a process that died can be found and closed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from harness import process_identity, provenance, resume_check
from harness.model_spec import LoadedModel
from skipbench.errors import InvalidInput, RunTakenOver
from skipbench.records import ResultRow, RunRecord, run_to_dict

if TYPE_CHECKING:
    from db.store import Store

MODEL_INFO_KEYS = ("model_type", "num_layers", "source_kind")


def new_record(
    lm: LoadedModel,
    *,
    method_name: str,
    method_config: dict[str, Any],
    sparsity: float | None,
    suites: dict[str, Any],
    seed: int,
    method_details: dict[str, Any] | None = None,
    extra_provenance: dict[str, Any] | None = None,
) -> RunRecord:
    """The record of running ``method_name`` and ``suites`` on ``lm``, with its provenance."""
    info = lm.info
    return RunRecord(
        model_id=info["display"],
        model_revision=info.get("revision"),
        model_hash=info.get("hash"),
        model_dtype=info["dtype"],
        model_params=info["params"],
        random_weights=bool(info.get("random_weights")),
        model_info={k: info[k] for k in MODEL_INFO_KEYS if k in info},
        method_name=method_name,
        method_config=method_config,
        method_details=dict(method_details or {}),
        sparsity=sparsity,
        suites=suites,
        seed=seed,
        device=provenance.device_name(lm.device),
        provenance={
            **provenance.collect(lm.device, lm.model),
            **(extra_provenance or {}),
            "process": process_identity.this_process(),
        },
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)


class RecordedRun:
    """One run's record and, if there is one, the store that keeps it."""

    def __init__(self, record: RunRecord, store: Store | None) -> None:
        self.record = record
        self.store = store
        self.done: set[str] = set()  # suites already stored (a resumed run skips them)
        self.results: list[ResultRow] = []  # this execution's rows, for a run without a store
        self.resumed_from: Any = None  # the stored run as it was before this process resumed it

    @classmethod
    def open(
        cls,
        record: RunRecord,
        store: Store | None,
        *,
        job_id: int | None = None,
        resume_run_id: int | None = None,
    ) -> RecordedRun:
        """Create the run row (``running``), or reopen ``resume_run_id`` at its missing suites.

        A run is reopened only if it recorded the same model, method config, suite configs and
        data as ``record`` (``resume_check``); otherwise ``InvalidInput`` and the stored run is
        left as it was.
        """
        run = cls(record, store)
        if store is None:
            record.created_at = _now()
        elif resume_run_id is None:
            record.id = store.create_run(record, job_id=job_id)
        else:
            stored = store.get_run(resume_run_id)
            if stored is None:
                raise InvalidInput(f"no stored run {resume_run_id} to resume")
            resume_check.check_resumable(stored, record)
            record.id, run.resumed_from = resume_run_id, stored
            record.provenance = {
                **(stored.provenance or {}),
                "process": record.provenance["process"],
            }
            store.update_run(
                resume_run_id,
                status="running",
                error=None,
                finished_at=None,
                provenance=record.provenance,
            )
            run.done = store.completed_suites(resume_run_id)
        return run

    @property
    def process(self) -> dict[str, Any] | None:
        """The process this run records as running it; writes are refused once it records
        another (``RunTakenOver``)."""
        return (self.record.provenance or {}).get("process")

    def set_method_details(self, details: dict[str, Any]) -> None:
        self.record.method_details = details
        if self.store is not None and self.record.id is not None:
            self.store.update_run(self.record.id, method_details=details, process=self.process)

    def add_suite(
        self,
        suite: str,
        rows: Sequence[ResultRow],
        artifacts: dict[str, Any],
        data_files: dict[str, str],
    ) -> None:
        """Keep one suite's rows, artifacts and data files (one transaction in a store)."""
        if self.store is not None and self.record.id is not None:
            self.store.add_suite_results(
                self.record.id, suite, rows, artifacts, data_files, process=self.process
            )
        self.results.extend(rows)
        self.record.data_files.update(data_files)

    @contextmanager
    def failed_on_error(self) -> Iterator[None]:
        """Any exception inside ends the run ``failed`` with the error, then propagates."""
        try:
            yield
        except RunTakenOver:
            raise  # the run is another process's now: nothing of ours goes into it
        except BaseException as exc:
            # resumed elsewhere meanwhile: its owner ends it; our error still propagates
            with suppress(RunTakenOver):
                self.finish("failed", error=f"{type(exc).__name__}: {exc}")
            raise

    def finish(self, status: str, error: str | None = None) -> None:
        self.record.status, self.record.error, self.record.finished_at = status, error, _now()
        if self.store is not None and self.record.id is not None:
            self.store.finish_run(self.record.id, status, error=error, process=self.process)

    def succeed(self) -> dict[str, Any]:
        """End the run ``succeeded``; its JSON contract, read back from the store if any."""
        self.finish("succeeded")
        if self.store is not None and self.record.id is not None:
            stored = self.store.get_run(self.record.id)
            assert stored is not None
            return run_to_dict(stored, self.store.results([self.record.id]))
        return run_to_dict(self.record, self.results)
