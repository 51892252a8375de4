"""A seeded SQLite store shared by the leaderboard tests (the app never writes to it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "leaderboard" / "app.py"


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> tuple[str, dict[str, int]]:
    from leaderboard.seed import seed_demo

    url = f"sqlite:///{tmp_path_factory.mktemp('lb') / 'demo.db'}"
    return url, seed_demo(url)


@pytest.fixture(scope="session")
def pg_demo_store() -> Iterator[tuple[str, dict[str, int]]]:
    """The same demo data in a PostgreSQL database of its own (the session's shared one holds
    other tests' runs and jobs, which these exact counts must not see)."""
    from leaderboard.seed import seed_demo
    from tests.conftest import fresh_pg_database

    with fresh_pg_database() as url:
        yield url, seed_demo(url)


@pytest.fixture
def seeded(demo_store, monkeypatch) -> tuple[str, dict[str, int]]:
    """The demo store as this test's SKIPBENCH_DATABASE_URL."""
    from skipbench.settings import reset_settings_cache

    monkeypatch.setenv("SKIPBENCH_DATABASE_URL", demo_store[0])
    reset_settings_cache()
    return demo_store


def app_test(page: str | None = None, query: dict[str, str] | None = None):
    """An AppTest of the whole app, run once, then switched to ``page`` (a script under
    leaderboard/app_pages) and run again."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(query or {})
    at.run()
    if page:
        at.query_params.update(query or {})
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at
