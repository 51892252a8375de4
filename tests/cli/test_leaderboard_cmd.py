"""``skipbench leaderboard`` names the URL it serves: the leaderboard's own (read-only) URL when
set, else the store's, password masked; ``--demo`` points both URLs at the demo store."""

from __future__ import annotations

import pytest

from cli import leaderboard_cmd

STORE = "postgresql+psycopg://owner:store-secret@db.example:5432/skipbench"
READER = "postgresql+psycopg://reader:reader-secret@db.example:5432/skipbench"


class Served(Exception):
    """Raised instead of becoming Streamlit; carries the environment it would get."""


@pytest.fixture
def serve(monkeypatch, capsys):  # noqa: ANN201
    from skipbench.settings import reset_settings_cache

    def execve(path, argv, env):  # noqa: ANN001, ANN202
        raise Served(env)

    monkeypatch.setattr(leaderboard_cmd, "port_is_free", lambda host, port: True)
    monkeypatch.setattr(leaderboard_cmd.os, "execve", execve)

    def run(demo: bool = False) -> tuple[str, dict]:
        reset_settings_cache()
        with pytest.raises(Served) as served:
            leaderboard_cmd.leaderboard(port=8599, host="127.0.0.1", demo=demo)
        return " ".join(capsys.readouterr().out.split()), served.value.args[0]

    return run


def test_names_the_leaderboards_own_url_masked(serve, monkeypatch):
    monkeypatch.setenv("SKIPBENCH_DATABASE_URL", STORE)
    monkeypatch.setenv("SKIPBENCH_LEADERBOARD_DATABASE_URL", READER)
    out, env = serve()
    assert "reading postgresql+psycopg://reader:***@db.example:5432/skipbench (its own URL" in out
    assert "owner" not in out and "secret" not in out
    assert env["SKIPBENCH_LEADERBOARD_DATABASE_URL"] == READER


def test_without_its_own_url_it_says_it_reads_the_stores(serve, monkeypatch):
    monkeypatch.setenv("SKIPBENCH_DATABASE_URL", STORE)
    monkeypatch.delenv("SKIPBENCH_LEADERBOARD_DATABASE_URL", raising=False)
    out, _ = serve()
    assert "reading postgresql+psycopg://owner:***@db.example:5432/skipbench" in out
    assert "the store's URL; SKIPBENCH_LEADERBOARD_DATABASE_URL gives it a read-only one" in out
    assert "secret" not in out


def test_demo_serves_the_demo_store_even_with_a_leaderboard_url(serve, monkeypatch, tmp_path):
    import cli.demo_store

    demo_url = f"sqlite:///{tmp_path / 'demo.db'}"
    monkeypatch.setattr(cli.demo_store, "demo_store", lambda home: demo_url)
    monkeypatch.setenv("SKIPBENCH_LEADERBOARD_DATABASE_URL", READER)
    out, env = serve(demo=True)
    assert f"reading {demo_url} (the demo store" in out
    assert env["SKIPBENCH_LEADERBOARD_DATABASE_URL"] == env["SKIPBENCH_DATABASE_URL"] == demo_url
