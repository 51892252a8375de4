"""The one Settings object: URLs and paths shared by the CLI, the workers and the leaderboard.

Every value can be set through an environment variable prefixed ``SKIPBENCH_`` (or a ``.env``
file), e.g. ``SKIPBENCH_DATABASE_URL=postgresql+psycopg://user@host/db``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_home() -> Path:
    return Path.home() / ".cache" / "skipbench"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SKIPBENCH_", env_file=".env", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="SkipBench's data directory")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; empty means SQLite at <home>/skipbench.db"
    )
    shared_dir: Path = Field(
        default=_REPO_ROOT.parent / "shared",
        description="read-only folder with offline data sets (data/...) for tests, demo, offline runs",
    )
    results_dir: Path = Field(
        default=_REPO_ROOT / "results",
        description="committed result bundles and reported numbers that `leaderboard --demo` serves",
    )
    model_cache: Path | None = Field(
        default=None, description="where fetched models are saved; default <home>/models"
    )
    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str = "redis://127.0.0.1:6379/1"
    job_soft_time_limit_s: float = Field(
        default=6 * 3600,
        description="default time limit of a job (its own limit wins): checked at each progress report",
    )
    job_hard_time_limit_s: float = Field(
        default=6 * 3600 + 600,
        description="default hard limit: Celery kills the job's process (a stuck job's backstop)",
    )
    heartbeat_interval_s: float = 10.0
    heartbeat_stale_s: float = 120.0
    # service (workers/): queue, redelivery and reconciliation
    queue: str = Field(
        default="default", description="Celery queue that submit uses and workers serve"
    )
    visibility_timeout_s: int | None = Field(
        default=None, description="Redis visibility timeout; default: hard time limit + 30 min"
    )
    job_max_attempts: int = Field(
        default=3,
        description="a job whose worker died this many times ends failed instead of requeued",
    )
    reconcile_interval_s: float = Field(
        default=60.0,
        description="how often each worker reconciles store and broker (0: only at start)",
    )
    enqueue_grace_s: float = Field(
        default=30.0, description="reconcile leaves jobs enqueued less than this long ago alone"
    )
    worker_preload: bool = Field(
        default=True,
        description="import torch/transformers in the worker parent (no CUDA init) so each job's fork starts fast",
    )
    worker_allow_remote_code: bool = Field(
        default=False,
        description="let this worker run jobs asking for trust_remote_code (hub code runs here)",
    )
    worker_store_wait_s: float = Field(
        default=60.0,
        description="a worker waits this long for the store at start, then refuses to start",
    )
    store_check_interval_s: float = Field(
        default=5.0,
        description="how often a worker checks the store; it takes no jobs while it is unreachable",
    )
    store_retry_s: float = Field(
        default=60.0,
        description="how long a job retries a store write across an outage before giving up",
    )
    leaderboard_database_url: str = Field(
        default="",
        description="read-only SQLAlchemy URL the leaderboard uses; empty: the database URL",
    )
    plugins: str = Field(
        default="",
        description="comma-separated modules imported by submit and workers (extra methods/suites)",
    )
    offline: bool = Field(
        default=False, description="never touch the Hugging Face hub; use shared_dir data only"
    )
    search_logs: bool = Field(
        default=True,
        description="keep greedy calibration searches' rounds under <home>/searches, so that a "
        "stopped or repeated search (SLEB, BlockPruner, OrthoRank) replays them",
    )

    source_commit: str = Field(
        default="",
        description="the commit a copy of the tree without git metadata came from (a device "
        "machine fed the working tree); runs record it as git_sha_declared, git_sha stays null",
    )

    @field_validator("source_commit", mode="after")
    @classmethod
    def _commit(cls, value: str) -> str:
        if value and not re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?", value):
            raise ValueError(
                f"SKIPBENCH_SOURCE_COMMIT={value!r} is not a git commit: 7 to 40 lowercase hex "
                "digits, optionally followed by -dirty"
            )
        return value

    @field_validator("home", "shared_dir", "results_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def db_url(self) -> str:
        """The effective database URL (SQLite under ``home`` unless set)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'skipbench.db'}"

    @property
    def leaderboard_db_url(self) -> str:
        """The leaderboard's URL: its own (read-only role) if set, else the store's."""
        return self.leaderboard_database_url or self.db_url

    @property
    def broker_visibility_timeout_s(self) -> int:
        """Longer than the longest job, so Redis never redelivers a job that is still running."""
        if self.visibility_timeout_s is not None:
            return self.visibility_timeout_s
        return int(self.job_hard_time_limit_s) + 1800

    @property
    def search_logs_dir(self) -> Path:
        return self.home / "searches"

    @property
    def models_dir(self) -> Path:
        return (self.model_cache or self.home / "models").expanduser()

    @property
    def data_dir(self) -> Path:
        """Offline data sets: ``<shared_dir>/data``."""
        return self.shared_dir / "data"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Tests change the environment; this makes the next ``get_settings()`` re-read it."""
    get_settings.cache_clear()
