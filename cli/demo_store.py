"""The store ``skipbench leaderboard --demo`` serves: the committed real result bundles
(``results/*.json``, ``results/*.jsonl``) and the papers' reported numbers
(``results/reported/*.yaml``) imported into a fresh SQLite file. No synthetic data: that is
for the tests (``leaderboard.seed``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from skipbench.errors import InvalidInput
from skipbench.settings import get_settings


def demo_inputs(results_dir: Path | None = None) -> tuple[list[Path], list[Path]]:
    """(bundles, reported-number files) under ``results_dir`` (default: the setting), by name."""
    results_dir = results_dir if results_dir is not None else get_settings().results_dir
    bundles = sorted(p for ext in ("*.json", "*.jsonl") for p in results_dir.glob(ext))
    reported = sorted((results_dir / "reported").glob("*.yaml"))
    return bundles, reported


def demo_store(home: Path, results_dir: Path | None = None) -> str:
    """The URL of a store holding exactly the committed results; rebuilt whenever they change
    (the file name carries a hash of their content), into a temporary file first."""
    results_dir = results_dir if results_dir is not None else get_settings().results_dir
    bundles, reported = demo_inputs(results_dir)
    if not bundles and not reported:
        raise InvalidInput(
            f"no result bundles or reported numbers under {results_dir}; --demo serves the "
            "results committed with SkipBench's source tree"
        )
    digest = hashlib.sha256()
    for path in [*bundles, *reported]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    path = home / f"leaderboard-demo-{digest.hexdigest()[:12]}.db"
    if not path.exists():
        from db import bundle_format
        from db.bundles import import_bundle
        from db.engine import get_engine
        from db.reported import import_reported

        home.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.unlink(missing_ok=True)
        url = f"sqlite:///{partial}"
        for bundle in bundles:
            import_bundle(url, bundle_format.read(bundle), bundle)
        if reported:
            import_reported(url, reported)
        get_engine(url).dispose()
        partial.rename(path)
    return f"sqlite:///{path}"
