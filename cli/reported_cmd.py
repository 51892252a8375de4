"""``skipbench import --reported FILE...``: published numbers (``db/reported.py``) into the store."""

from __future__ import annotations

import json
from pathlib import Path

from cli.common import console


def import_reported_files(files: list[Path], as_json: bool = False) -> None:
    from db.reported import import_reported
    from skipbench.settings import get_settings

    report = import_reported(get_settings().db_url, files)
    console.print(
        f"{report.numbers} reported number(s) from {len(files)} file(s): {report.added} run(s) "
        f"added, {report.replaced} replaced, {report.already} already stored",
        highlight=False,
    )
    if as_json:
        print(json.dumps(vars(report)))
