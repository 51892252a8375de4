"""Tables: runs, results (one row per run/suite/task/metric), artifacts (JSON blobs), jobs.

Schema changes go through Alembic (``db/migrations``); never ``create_all`` in production paths.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

JSONType = JSON().with_variant(JSONB(), "postgresql")

RUN_STATUSES = ("running", "succeeded", "failed")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL keeps the offset itself; SQLite has no time zones and hands back naive values,
    which cannot be compared with ``utcnow()``. Values are written as UTC (a naive value is
    taken to be UTC already) and always read back aware, in UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
        datetime: UTCDateTime,
    }


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    # model
    model_id: Mapped[str] = mapped_column(String(512), index=True)
    model_revision: Mapped[str | None] = mapped_column(String(128))
    model_hash: Mapped[str | None] = mapped_column(String(128))
    model_dtype: Mapped[str] = mapped_column(String(32))
    model_params: Mapped[int | None] = mapped_column(BigInteger)
    random_weights: Mapped[bool] = mapped_column(Boolean, default=False)
    model_info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # method
    method_name: Mapped[str] = mapped_column(String(64), index=True)
    method_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    method_details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sparsity: Mapped[float | None] = mapped_column(Float)
    # what was run and how
    suites: Mapped[dict[str, Any]] = mapped_column(default=dict)  # suite name -> config
    seed: Mapped[int] = mapped_column(Integer, default=0)
    device: Mapped[str | None] = mapped_column(String(128))
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    data_files: Mapped[dict[str, Any]] = mapped_column(default=dict)  # path -> sha256
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )

    results: Mapped[list[Result]] = relationship(back_populates="run", cascade="all, delete-orphan")


class Result(Base):
    __tablename__ = "results"
    __table_args__ = (UniqueConstraint("run_id", "suite", "task", "metric", name="uq_result_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    suite: Mapped[str] = mapped_column(String(64))
    task: Mapped[str] = mapped_column(String(128))
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    stderr: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int | None] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(32), default="")
    higher_is_better: Mapped[bool] = mapped_column(Boolean)
    display_name: Mapped[str] = mapped_column(String(128), default="")

    run: Mapped[Run] = relationship(back_populates="results")


class Artifact(Base):
    """JSON payloads stored with a run: per-sample records, sink curves, suite config echoes."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("run_id", "suite", "name", name="uq_artifact_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    suite: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Job(Base):
    """A queued evaluation (the service); identity is ``key`` (+ ``generation`` after --force)."""

    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("key", "generation", name="uq_job_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    queue: Mapped[str] = mapped_column(String(64), default="default")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # 0002
    worker_host: Mapped[str | None] = mapped_column(String(255))
    worker_gpu: Mapped[str | None] = mapped_column(String(255))
    progress_suite: Mapped[str | None] = mapped_column(String(64))
    progress_fraction: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    celery_task_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(Integer)
    # 0003: the job's own limits (None: the worker's settings). Soft: checked at each progress
    # report from the job's first one; hard: Celery kills the process (counted from its start).
    soft_time_limit_s: Mapped[float | None] = mapped_column(Float)
    hard_time_limit_s: Mapped[float | None] = mapped_column(Float)
