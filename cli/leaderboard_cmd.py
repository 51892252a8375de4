"""``skipbench leaderboard [--port N]``: serve the Streamlit leaderboard on the configured store.

It reads through its own URL (``SKIPBENCH_LEADERBOARD_DATABASE_URL``, a read-only role) when
one is set, else the store's; the line it prints names that URL, password masked.

Streamlit is imported only by the process this command becomes (``python -m streamlit run``),
never when the CLI starts.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from pathlib import Path

import typer

from skipbench.errors import InvalidInput


def app_path() -> Path:
    """The Streamlit entry file, found without importing the leaderboard (no streamlit here)."""
    spec = importlib.util.find_spec("leaderboard")
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInput("the leaderboard package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "app.py"


def register(app: typer.Typer) -> None:
    app.command("leaderboard")(leaderboard)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def streamlit_argv(port: int, host: str) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(app_path()),
        "--server.port", str(port), "--server.address", host, "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--client.toolbarMode", "viewer",  # a read-only app: no Deploy button
    ]  # fmt: skip


def leaderboard(
    port: int = typer.Option(8501, "--port", help="TCP port to serve on"),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="address to bind (0.0.0.0 for every interface)"
    ),
    demo: bool = typer.Option(
        False,
        "--demo",
        help="serve the committed real results (results/*.json bundles and the papers' "
        "reported numbers, results/reported) from a fresh store under SkipBench's home",
    ),
) -> None:
    """Serve the leaderboard (read-only) at SKIPBENCH_LEADERBOARD_DATABASE_URL, else on the
    store at SKIPBENCH_DATABASE_URL."""
    from cli.common import console, masked
    from skipbench.settings import get_settings

    if not 1 <= port <= 65535:
        raise InvalidInput(f"--port {port} is out of range; allowed: 1-65535")
    app_file = app_path()
    if not app_file.is_file():
        raise InvalidInput(
            f"leaderboard app not found at {app_file}; reinstall SkipBench from its source tree"
        )
    if not port_is_free(host, port):
        raise InvalidInput(f"port {port} on {host} is already in use; pick another with --port")
    settings = get_settings()
    env = dict(os.environ)
    url, whose = settings.leaderboard_db_url, "its own URL"
    if demo:
        from cli.demo_store import demo_store

        url, whose = demo_store(settings.home), "the demo store"
        # the app reads the leaderboard's URL first: both must name the demo store
        env["SKIPBENCH_DATABASE_URL"] = env["SKIPBENCH_LEADERBOARD_DATABASE_URL"] = url
    elif not settings.leaderboard_database_url:
        whose = "the store's URL; SKIPBENCH_LEADERBOARD_DATABASE_URL gives it a read-only one"
    console.print(
        f"leaderboard on http://{host}:{port} reading {masked(url)} ({whose}; Ctrl+C stops it)"
    )
    sys.stdout.flush()
    os.execve(sys.executable, streamlit_argv(port, host), env)
