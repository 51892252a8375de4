"""Every shipped grid (grids/*.yaml) parses and expands against the current registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

GRIDS = sorted((Path(__file__).resolve().parents[2] / "grids").glob("*.yaml"))


def test_grids_are_shipped():
    names = {g.stem for g in GRIDS}
    assert {"smollm2-offline", "gemma3-270m-offline", "sleb-paper"} <= names


def _expected_cells(doc: dict) -> int:
    """The docs' expansion rule, counted by hand: dense once per suite; a sparse method once per
    sparsity in both its own (or the grid's) list and the suite's (or the grid's)."""
    total = 0
    for method in doc["methods"]:
        name = method if isinstance(method, str) else method["name"]
        mine = (method if isinstance(method, dict) else {}).get("sparsities")
        for suite in doc["suites"]:
            theirs = suite.get("sparsities")
            if name == "dense":
                total += 1
            elif mine is not None and theirs is not None:
                total += len(set(mine) & set(theirs))  # both give one: the values in both
            else:  # the grid's list, replaced by whichever gives its own
                total += len(mine if mine is not None else theirs or doc["sparsities"])
    return total * len(doc["models"])


@pytest.mark.parametrize("grid", GRIDS, ids=[g.stem for g in GRIDS])
def test_grid_expands_in_a_dry_run(grid, tmp_path, monkeypatch):
    """--submit: validated as queued cells (no model files needed here), nothing stored."""
    from cli.main import app
    from skipbench.settings import reset_settings_cache

    monkeypatch.setenv("SKIPBENCH_HOME", str(tmp_path))
    monkeypatch.delenv("SKIPBENCH_DATABASE_URL", raising=False)
    reset_settings_cache()
    result = CliRunner().invoke(
        app, ["sweep", str(grid), "--dry-run", "--submit"], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    assert "error" not in result.output.lower()
    n = _expected_cells(yaml.safe_load(grid.read_text()))
    assert re.search(rf"\b{n} cells: 0 done", result.output), result.output[-400:]


@pytest.mark.parametrize("stem", ["smollm2-offline", "gemma3-270m-offline"])
def test_offline_grids_cover_every_registered_method(stem):
    from methods.registry import available_methods

    doc = yaml.safe_load((GRIDS[0].parent / f"{stem}.yaml").read_text())
    named = {m if isinstance(m, str) else m["name"] for m in doc["methods"]}
    assert set(available_methods()) <= named
    assert doc["sparsities"] == [0.1, 0.2, 0.3]
    suites = {s["name"]: s for s in doc["suites"]}
    assert suites["perplexity"]["tasks"] == ["wikitext2", "c4"]
    assert suites["zeroshot"]["sparsities"] == [0.2]
    assert suites["longbench"]["params"]["dataset"] == "longbench-mini"
