"""The generic registry (skipbench.registry) and the suites found through it."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.suites.base import SUITES, UnknownSuite, build_suite, suite_class, suite_names
from harness.suites.declarations import builtin_declarations
from skipbench.errors import InvalidInput
from skipbench.registry import Registry, load_plugins

ROOT = Path(__file__).resolve().parents[2]


class _Thing:
    name = "thing"


def _module(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(body))


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path for throw-away modules and entry points."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("sbt_")]:
        del sys.modules[name]


def test_duplicate_names_refused_same_class_idempotent():
    reg: Registry[type] = Registry("widget", "skipbench.test-widgets", dict)
    reg.register(_Thing)
    reg.register(_Thing)
    other = type("Other", (), {"name": "thing"})
    with pytest.raises(ValueError, match="widget name 'thing' is already registered by"):
        reg.register(other)
    with pytest.raises(TypeError, match="non-empty string 'name'"):
        reg.register(type("Nameless", (), {}))


def test_unknown_name_suggests_and_lists_known():
    reg: Registry[type] = Registry("widget", "skipbench.test-widgets", dict)
    reg.register(_Thing)
    with pytest.raises(InvalidInput) as exc:
        reg.get("thinf")
    assert str(exc.value) == "unknown widget 'thinf' (did you mean 'thing'?); known widgets: thing"
    with pytest.raises(InvalidInput, match=r"^unknown widget 'zzz'; known widgets: thing$"):
        reg.get("zzz")


def test_builtins_are_imported_only_when_asked_for(site):
    _module(
        site, "sbt_lazy", "from sbt_reg import REG\n@REG.register\nclass Lazy:\n    name = 'lazy'\n"
    )
    reg: Registry[type] = Registry("widget", "skipbench.test-widgets", lambda: {"lazy": "sbt_lazy"})
    _module(site, "sbt_reg", "")
    import sbt_reg

    sbt_reg.REG = reg
    assert reg.names() == ["lazy"] and "sbt_lazy" not in sys.modules
    assert reg.get("lazy").__module__ == "sbt_lazy"


def test_entry_points_are_found_by_name_and_checked(site):
    _module(
        site, "sbt_plug", "class Good:\n    name = 'good'\nclass Misnamed:\n    name = 'other'\n"
    )
    info = site / "sbt_plug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sbt-plug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[skipbench.test-widgets]\ngood = sbt_plug:Good\nbad = sbt_plug:Misnamed\n"
    )
    reg: Registry[type] = Registry("widget", "skipbench.test-widgets", dict)
    assert reg.names() == ["bad", "good"] and "sbt_plug" not in sys.modules
    assert reg.get("good").__name__ == "Good"
    with pytest.raises(InvalidInput, match="entry's name must be the widget's name"):
        reg.get("bad")


def test_load_plugins_imports_the_named_modules(site):
    _module(site, "sbt_extra", "LOADED = True\n")
    assert load_plugins(" sbt_extra , ") == ["sbt_extra"] and "sbt_extra" in sys.modules
    with pytest.raises(InvalidInput, match="plugin module 'sbt_missing' .* is not importable"):
        load_plugins("sbt_missing")


def test_builtin_suites_are_their_folders():
    folders = sorted(
        p.name for p in (ROOT / "harness" / "suites").iterdir() if (p / "suite.py").exists()
    )
    assert suite_names() == folders == ["longbench", "perplexity", "throughput", "zeroshot"]
    assert list(builtin_declarations()) == ["perplexity", "zeroshot", "longbench", "throughput"]
    for name in folders:
        cls = suite_class(name)
        assert cls.name == name and cls.declaration is builtin_declarations()[name]
        assert cls.__module__ == f"harness.suites.{name}.suite"
        assert cls.Config.__name__.endswith("Config") and cls.Config.__module__ == cls.__module__
        assert set(cls.default_tasks) <= set(cls.tasks)


def test_suite_class_keeps_the_old_task_lists():
    zs = suite_class("zeroshot")
    assert zs.tasks == ("piqa", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "boolq", "openbookqa", "lambada_openai")  # fmt: skip
    assert zs.default_tasks == zs.tasks[:-1]
    assert suite_class("perplexity").tasks == ("wikitext2", "c4")
    assert suite_class("perplexity").default_tasks == ("wikitext2",)
    assert len(suite_class("longbench").tasks) == 21


def test_unknown_suite_is_invalid_input_with_hint():
    with pytest.raises(
        UnknownSuite, match=r"unknown suite 'zeroshto' \(did you mean 'zeroshot'\?\)"
    ):
        build_suite("zeroshto", {})
    assert issubclass(UnknownSuite, InvalidInput)
    assert SUITES.group == "skipbench.suites"


def test_suite_names_and_declarations_import_no_suite_and_no_torch():
    code = (
        "import sys, json\n"
        "from harness.suites.base import suite_names, suite_declaration\n"
        "names = suite_names()\n"
        "heads = {n: suite_declaration(n).headline_metrics for n in names}\n"
        "print(json.dumps([heads, sorted(m for m in sys.modules if m.endswith('.suite') or m.split('.')[0] in ('torch', 'transformers'))]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    heads, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    assert heavy == []
    assert heads["perplexity"] == ["perplexity"] and heads["throughput"] == [
        "speedup",
        "tokens_per_s",
    ]
