"""The source digest in every run's provenance (``harness.provenance.source_sha256``)."""

from __future__ import annotations

import hashlib
import re

import pytest
from pydantic import ValidationError

from harness import provenance
from skipbench.settings import Settings, reset_settings_cache


def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())


def test_source_digest_is_the_documented_hash_of_the_source_files(tmp_path):
    write(tmp_path, "harness/a.py", "x = 1\n")
    write(tmp_path, "methods/sub/b.py", "y = 2\n")
    write(tmp_path, "harness/model_configs/m.json", "{}")
    write(tmp_path, "harness/__pycache__/a.cpython-311.pyc", "bytecode")  # not source
    write(tmp_path, "harness/notes.txt", "not a source suffix")
    write(tmp_path, "leaderboard/app.py", "display only")  # not a result-deciding package
    files = {
        "harness/a.py": b"x = 1\n",
        "harness/model_configs/m.json": b"{}",
        "methods/sub/b.py": b"y = 2\n",
    }
    lines = sorted(f"{p}\0{hashlib.sha256(b).hexdigest()}\n" for p, b in files.items())
    expected = hashlib.sha256("".join(lines).encode()).hexdigest()
    assert provenance.source_sha256(tmp_path) == expected


def test_source_digest_changes_with_one_byte_and_only_with_source(tmp_path):
    write(tmp_path, "db/store.py", "a = 1\n")
    before = provenance.source_sha256(tmp_path)
    provenance.source_sha256.cache_clear()
    write(tmp_path, "db/__pycache__/store.pyc", "x")
    write(tmp_path, "docs/readme.md", "y")
    assert provenance.source_sha256(tmp_path) == before
    provenance.source_sha256.cache_clear()
    write(tmp_path, "db/store.py", "a = 2\n")
    assert provenance.source_sha256(tmp_path) != before
    provenance.source_sha256.cache_clear()


def test_collect_records_the_source_digest_of_this_checkout():
    facts = provenance.collect("cpu")
    assert re.fullmatch(r"[0-9a-f]{64}", facts["source_sha256"])
    assert facts["source_sha256"] == provenance.source_sha256()


# settings are re-read before and after every test (tests/conftest.isolated_home); a test that
# sets the environment mid-way resets them itself
def test_a_copy_without_git_metadata_records_the_declared_commit_beside_a_null_git_sha(
    monkeypatch,
):
    monkeypatch.setattr(provenance, "git_sha", lambda: None)
    assert provenance.commit_facts() == {"git_sha": None}
    monkeypatch.setenv("SKIPBENCH_SOURCE_COMMIT", "32fb41e")
    reset_settings_cache()
    assert provenance.commit_facts() == {"git_sha": None, "git_sha_declared": "32fb41e"}
    facts = provenance.collect("cpu")
    assert facts["git_sha"] is None and facts["git_sha_declared"] == "32fb41e"


def test_a_checkout_with_git_metadata_ignores_the_declared_commit(monkeypatch):
    monkeypatch.setattr(provenance, "git_sha", lambda: "0123abc-dirty")
    monkeypatch.setenv("SKIPBENCH_SOURCE_COMMIT", "32fb41e")
    reset_settings_cache()
    assert provenance.commit_facts() == {"git_sha": "0123abc-dirty"}


@pytest.mark.parametrize("bad", ["main", "32FB41E", "32fb4", "32fb41e-clean"])
def test_a_declared_commit_that_is_not_a_commit_is_refused_naming_it(bad):
    with pytest.raises(ValidationError, match=re.escape(repr(bad))):
        Settings(source_commit=bad)
