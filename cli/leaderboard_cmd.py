"""``skipbench leaderboard [--port N]``: serve the Streamlit leaderboard on the configured store.

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
    """Serve the leaderboard (read-only) on the store at SKIPBENCH_DATABASE_URL."""
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
    env = dict(os.environ)
    url = get_settings().db_url
    if demo:
        from cli.demo_store import demo_store

        url = demo_store(get_settings().home)
        env["SKIPBENCH_DATABASE_URL"] = url
    from cli.common import console

    console.print(f"leaderboard on http://{host}:{port} reading {_redact(url)} (Ctrl+C stops it)")
    sys.stdout.flush()
    os.execve(sys.executable, streamlit_argv(port, host), env)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
