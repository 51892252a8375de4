"""Result bundles: export -> import round trip, idempotence, refusal of bad files, origin.

Runs are written through the store's own API (no model needed) on SQLite and on the real
PostgreSQL; each test uses its own model id, so the session's shared PostgreSQL database holds
nothing else of theirs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from db import bundle_format
from db.bundles import bundle_header, export_runs, import_bundle
from db.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'a.db'}"
    return request.getfixturevalue("pg_url")


def make_run(store: Store, model: str, method: str = "shortgpt", value: float = 21.5) -> int:
    rid = store.create_run(
        model_id=model,
        model_dtype="float32",
        model_params=1234,
        model_info={"num_layers": 4},
        method_name=method,
        method_config={"sparsity": 0.25, "calib_samples": 2},
        sparsity=0.25,
        suites={"perplexity": {"tasks": ["wikitext2"], "limit": 2}},
        seed=0,
        device="cpu: test",
        provenance={"spec_key": uuid.uuid4().hex * 2, "skipbench": "0.1.0", "host": "lab-1"},
    )
    store.update_run(rid, method_details={"removed_layers": [2], "apply_seconds": 0.5})
    rows = [
        {"suite": "perplexity", "task": "wikitext2", "metric": "perplexity", "value": value,
         "higher_is_better": False, "n": 2, "unit": "", "display_name": "PPL"},
        {"suite": "perplexity", "task": "wikitext2", "metric": "nll", "value": 3.0705,
         "higher_is_better": False, "stderr": 0.01, "n": 2, "unit": "nats/token"},
    ]  # fmt: skip
    store.add_suite_results(
        rid,
        "perplexity",
        rows,
        artifacts={"suite_info": {"windows": 2}, "samples": {"wikitext2": [{"i": 0, "nll": 3.1}]}},
        data_files={"wikitext2/test.jsonl": "ab" * 32},
    )
    store.finish_run(rid, "succeeded")
    return rid


def export_file(url: str, path, **filters) -> str:
    runs = export_runs(url, **filters)
    bundle_format.write(path, bundle_header(filters), runs)
    return str(path)


def without_local(record: dict) -> dict:
    provenance = {k: v for k, v in record["provenance"].items() if k != "origin"}
    return {**{k: v for k, v in record.items() if k != "run_id"}, "provenance": provenance}


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_round_trip_is_equal_and_idempotent(url, tmp_path, suffix):
    model = f"tiny-{uuid.uuid4().hex[:8]}"
    source = Store(f"sqlite:///{tmp_path / 'source.db'}")
    ids = [make_run(source, model), make_run(source, model, method="sleb", value=19.25)]
    make_run(source, "another-model")
    original = export_runs(source.url, model=model, with_samples=True)
    assert [r["run_id"] for r in original] == ids
    file = export_file(source.url, tmp_path / f"b{suffix}", model=model, with_samples=True)

    target = Store(url)
    bundle = bundle_format.read(file)
    report = import_bundle(url, bundle, file)
    assert len(report.added) == 2 and report.already == []
    back = export_runs(url, model=model, with_samples=True)
    assert [without_local(r) for r in back] == [without_local(r) for r in original]
    assert back[0]["results"][0]["value"] == 3.0705 and back[1]["results"][1]["value"] == 19.25

    again = import_bundle(url, bundle_format.read(file), file)  # the same file twice = once
    assert again.added == [] and sorted(again.already) == sorted(report.added)
    assert len(target.runs(model=model)) == 2

    # and back into the store it came from: already there
    home = import_bundle(source.url, bundle_format.read(file), file)
    assert home.added == [] and home.already == ids


def test_samples_are_optional_and_arrive_later(url, tmp_path):
    model = f"tiny-{uuid.uuid4().hex[:8]}"
    source = Store(f"sqlite:///{tmp_path / 'source.db'}")
    make_run(source, model)
    lean = export_file(source.url, tmp_path / "lean.json", model=model)
    full = export_file(source.url, tmp_path / "full.json", model=model, with_samples=True)
    assert [a["name"] for a in bundle_format.read(lean).runs[0]["artifacts"]] == ["suite_info"]
    Store(url)
    first = import_bundle(url, bundle_format.read(lean), lean)
    later = import_bundle(url, bundle_format.read(full), full)  # same run: only the samples added
    assert later.added == [] and later.already == first.added and later.artifacts_added == 1
    names = [a.name for a in Store(url).artifacts(first.added[0])]
    assert sorted(names) == ["samples", "suite_info"]


def test_origin_is_kept_and_filterable(url, tmp_path):
    from db.engine import get_engine
    from db.queries import runs as query_runs
    from leaderboard import frames, origins

    model = f"tiny-{uuid.uuid4().hex[:8]}"
    source = Store(f"sqlite:///{tmp_path / 'source.db'}")
    source_id = make_run(source, model)
    file = export_file(source.url, tmp_path / "cluster.json", model=model)
    target = Store(url)
    local_id = make_run(target, model, method="dense")
    (new_id,) = import_bundle(url, bundle_format.read(file), file).added
    origin = target.get_run(new_id).provenance["origin"]
    header = bundle_format.read(file).header
    assert origin["file"] == "cluster.json" and origin["path"] == str(tmp_path / "cluster.json")
    assert origin["host"] == header["exporter"]["host"] and origin["source_run_id"] == source_id
    assert origin["exported_at"] == header["created_at"] and origin["imported_at"]
    assert target.get_run(new_id).provenance["host"] == "lab-1"  # the run's own provenance kept

    runs = frames.runs_frame(query_runs(get_engine(url)))
    runs = runs[runs["model_id"] == model]
    label = f"imported: cluster.json (from {header['exporter']['host']})"
    assert origins.labels(runs) == [origins.HERE, label]
    results = runs[["id"]].rename(columns={"id": "run_id"})
    kept, kept_results = origins.keep(runs, results, [label])
    assert list(kept["id"]) == [new_id] and list(kept_results["run_id"]) == [new_id]
    assert list(origins.keep(runs, results, [origins.HERE])[0]["id"]) == [local_id]


def test_a_bundle_run_is_the_run_json_contract_plus_artifacts(url, tmp_path):
    """A bundle run is ``run_to_dict`` (``skipbench run --json``), and import inverts it exactly."""
    from dataclasses import fields

    from skipbench.records import ResultRow, run_from_dict, run_to_dict

    model = f"tiny-{uuid.uuid4().hex[:8]}"
    source = Store(f"sqlite:///{tmp_path / 'source.db'}")
    rid = make_run(source, model)
    stored = source.get_run(rid)
    contract = run_to_dict(stored, source.results([rid]))
    (exported,) = export_runs(source.url, model=model)
    assert set(exported) == set(contract) | {"artifacts"}
    for key in ("run_id", "model", "method", "sparsity", "suites", "seed", "provenance"):
        assert exported[key] == contract[key], key
    assert exported["model"]["num_layers"] == 4  # model_info, spread into "model" as in --json
    assert exported["provenance"]["data_files"] == {"wikitext2/test.jsonl": "ab" * 32}
    by_metric = {r["metric"]: r for r in exported["results"]}
    assert by_metric == {r["metric"]: r for r in contract["results"]}
    assert set(bundle_format.ResultIn.model_fields) == {f.name for f in fields(ResultRow)}

    record, results = run_from_dict(exported)
    # every fact of the stored row, model_info, provenance, device and data_files included
    assert record.columns() == {k: getattr(stored, k) for k in record.columns()}
    assert record.model_info == {"num_layers": 4} and record.device == "cpu: test"
    assert run_to_dict(record, results)["results"] == exported["results"]

    file = export_file(source.url, tmp_path / "b.json", model=model)
    Store(url)
    (new_id,) = import_bundle(url, bundle_format.read(file), file).added
    back = Store(url).get_run(new_id)
    assert {k: v for k, v in back.provenance.items() if k != "origin"} == stored.provenance
    for column in set(record.columns()) - {"provenance"}:
        assert getattr(back, column) == getattr(stored, column), column


def test_a_run_whose_model_info_shadows_a_model_field_is_not_exported(tmp_path):
    from skipbench.errors import InvalidInput

    store = Store(f"sqlite:///{tmp_path / 'source.db'}")
    rid = make_run(store, "m")
    store.update_run(rid, model_info={"num_layers": 4, "dtype": "int4"})
    with pytest.raises(InvalidInput, match=f"run {rid}: model_info or provenance key 'dtype'"):
        export_runs(store.url)


def _tampered(path, tmp_path):
    text = path.read_text()
    assert "21.5" in text
    return text.replace("21.5", "12.5", 1)


def _newer_version(path, tmp_path):
    doc = json.loads(path.read_text())
    doc["format_version"] = 99
    runs, _ = doc.pop("runs"), doc.pop("sha256")
    return json.dumps({**doc, "runs": runs, "sha256": bundle_format.content_sha256(doc, runs)})


def _bad_schema(path, tmp_path):
    doc = json.loads(path.read_text())
    runs, _ = doc.pop("runs"), doc.pop("sha256")
    runs[0]["results"][0]["value"] = "not a number"
    return json.dumps({**doc, "runs": runs, "sha256": bundle_format.content_sha256(doc, runs)})


BAD_FILES = {
    "truncated": (lambda p, t: p.read_text()[: len(p.read_text()) // 2], "corrupt or truncated"),
    "tampered": (_tampered, "sha256 does not match"),
    "foreign": (lambda p, t: json.dumps({"name": "x", "runs": []}), "not a SkipBench bundle"),
    "array": (lambda p, t: "[1, 2]", "not a SkipBench bundle"),
    "newer": (_newer_version, "format version 99"),
    "schema": (_bad_schema, "schema: run 1: results.0.value"),
    "empty": (lambda p, t: "", "corrupt or truncated"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_json_files_are_refused_with_nothing_stored(url, tmp_path, kind):
    model = f"tiny-{uuid.uuid4().hex[:8]}"
    source = Store(f"sqlite:///{tmp_path / 'source.db'}")
    make_run(source, model)
    good = tmp_path / "good.json"
    export_file(source.url, good, model=model)
    make, message = BAD_FILES[kind]
    bad = tmp_path / f"{kind}.json"
    bad.write_text(make(good, tmp_path))
    with pytest.raises(bundle_format.BundleError) as exc:
        bundle_format.read(bad)
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert Store(url).runs(model=model) == []


def test_bad_jsonl_files_are_refused(tmp_path):
    source = Store(f"sqlite:///{tmp_path / 'source.db'}")
    make_run(source, "m")
    make_run(source, "m", method="sleb")
    good = tmp_path / "good.jsonl"
    export_file(source.url, good)
    lines = good.read_text().splitlines()
    cases = {
        "no_footer": ("\n".join(lines[:-1]), "truncated bundle (no sha256 line"),
        "run_missing": ("\n".join(lines[:1] + lines[2:]), "truncated bundle (1 runs"),
        "cut_line": (good.read_text()[:-40], "corrupt or truncated"),
        "foreign": ('{"hello": 1}\n{"sha256": "x"}', "not a SkipBench bundle"),
    }
    for name, (text, message) in cases.items():
        bad = tmp_path / f"{name}.jsonl"
        bad.write_text(text)
        with pytest.raises(bundle_format.BundleError, match=message.replace("(", r"\(")):
            bundle_format.read(bad)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(bundle_format.BundleError, match="not a SkipBench bundle"):
        bundle_format.read(binary)


def test_import_is_one_transaction(url, tmp_path):
    model = f"tiny-{uuid.uuid4().hex[:8]}"
    source = Store(f"sqlite:///{tmp_path / 'source.db'}")
    make_run(source, model)
    make_run(source, model, method="sleb")
    runs = export_runs(source.url, model=model)
    runs[1]["artifacts"].append(dict(runs[1]["artifacts"][0]))  # a duplicate: fails in the db
    file = tmp_path / "dup.json"
    bundle_format.write(file, bundle_header({}), runs)
    Store(url)
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        import_bundle(url, bundle_format.read(file), file)
    assert Store(url).runs(model=model) == []  # the first run was rolled back too


def test_cli_export_import_and_refusal(tmp_path):
    """The commands: exit 0 with a summary, and a bad file refused in one line with exit 2."""
    home = tmp_path / "home"
    env = {**os.environ, "SKIPBENCH_HOME": str(home), "COLUMNS": "200"}
    env.pop("SKIPBENCH_DATABASE_URL", None)
    store = Store(f"sqlite:///{home / 'skipbench.db'}")
    rid = make_run(store, "m")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                              text=True, env=env, timeout=120)  # fmt: skip

    out = cli("export", "--run", str(rid), "-o", str(tmp_path / "b.jsonl"))
    assert out.returncode == 0 and "wrote 1 run(s)" in out.stdout, out.stderr
    again = cli("import", str(tmp_path / "b.jsonl"), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["already"] == [rid]
    missing = cli("export", "--run", "999", "-o", str(tmp_path / "x.json"))
    assert missing.returncode == 2 and "--run 999" in missing.stderr
    (tmp_path / "bad.json").write_text('{"format": "skipbench-bundle", "format_version": 1')
    bad = cli("import", str(tmp_path / "bad.json"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "corrupt or truncated" in bad.stderr
    assert len(store.runs()) == 1
