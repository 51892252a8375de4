"""``skipbench leaderboard``: bad input exits 2; the CLI's import path stays free of streamlit."""

from __future__ import annotations

import ast
import socket
import subprocess
import sys


def _skipbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_port_exits_2():
    out = _skipbench("leaderboard", "--port", "70000")
    assert out.returncode == 2 and "--port 70000" in out.stderr


def test_busy_port_exits_2():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        out = _skipbench("leaderboard", "--port", str(port))
    assert out.returncode == 2 and "already in use" in out.stderr


def test_cli_import_does_not_load_streamlit_or_pandas():
    code = "import sys, cli.main; print(sorted(m for m in ('streamlit', 'pandas', 'altair', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_leaderboard_imports_only_db_settings_and_suite_declarations():
    """The app's modules import nothing of harness but the suites' torch-free declarations
    (all of which are loaded here, so they are checked too), nothing of methods or workers."""
    code = (
        "import sys, importlib, pathlib\n"
        "for p in pathlib.Path('leaderboard').rglob('*.py'):\n"
        "    if 'app_pages' in p.parts or p.name == 'app.py': continue\n"
        "    importlib.import_module('.'.join(p.with_suffix('').parts))\n"
        "from leaderboard.columns import declaration\n"
        "assert declaration('longbench') is not None\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('harness', 'methods', 'workers', 'torch', 'transformers')))"
    )
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root
    )
    loaded = ast.literal_eval(out.stdout.strip() or "None")
    assert loaded is not None, out.stderr
    folders = sorted(
        p.name for p in (root / "harness" / "suites").iterdir() if (p / "declaration.py").exists()
    )
    allowed = {"harness", "harness.suites", "harness.suites.declarations"}
    allowed |= {f"harness.suites.{f}" for f in folders} | {
        f"harness.suites.{f}.declaration" for f in folders
    }
    assert set(loaded) <= allowed, sorted(set(loaded) - allowed)
    assert {f"harness.suites.{f}.declaration" for f in folders} <= set(loaded)
    assert len(folders) >= 4
