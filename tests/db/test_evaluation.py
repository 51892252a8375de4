"""The evaluation identity and row merging against hand-worked cases."""

from __future__ import annotations

from types import SimpleNamespace

from db.evaluation import dense_match, merge_runs, pick_results, subject, suite_evaluation

PPL = {"tasks": ["wikitext2"], "limit": None, "seq_len": 2048, "batch_size": 1}
SMOKE = {**PPL, "limit": 1, "seq_len": 256}
ZS = {"tasks": ["piqa"], "limit": None, "batch_size": 8, "log_samples": False}
TP = {"limit": None, "repeats": 10, "baseline": True}
GPU, CPU = "NVIDIA H200", "cpu: x86_64 (2 threads)"


def run(i, suite, config, method="dense", device=GPU, status="succeeded", files=None, **extra):
    return {"id": i, "status": status, "model_id": "m", "model_hash": "h", "model_dtype": "bf16",
            "method_name": method, "method_config": extra.pop("method_config", {}),
            "method_details": {}, "seed": 0, "suites": {suite: config}, "device": device,
            "data_files": files or {}, **extra}  # fmt: skip


def merged(runs):
    suites = {r["id"]: list(r["suites"]) for r in runs}
    return {tuple(row.run_ids): row for row in merge_runs(runs, suites)}


def test_identity_ignores_selection_fields_and_adds_device_only_for_speed():
    a = suite_evaluation(run(1, "zeroshot", ZS), "zeroshot")
    b = suite_evaluation(
        run(2, "zeroshot", {**ZS, "tasks": ["boolq"], "log_samples": True}, device=CPU), "zeroshot"
    )
    assert a.matches(b)  # tasks, log_samples and (for quality) the device do not matter
    assert not a.matches(suite_evaluation(run(3, "zeroshot", {**ZS, "batch_size": 4}), "zeroshot"))
    gpu = suite_evaluation(run(4, "throughput", TP), "throughput")
    cpu = suite_evaluation(run(5, "throughput", TP, device=CPU), "throughput")
    assert not gpu.matches(cpu) and "device=" + CPU in cpu.describe()
    assert gpu.matches(
        suite_evaluation(run(6, "throughput", {**TP, "baseline": False}), "throughput")
    )


def test_data_hashes_must_agree_on_files_both_read():
    wt = {"wikitext2/test.jsonl": "aa", "zeroshot/piqa/validation.jsonl": "zz"}
    a = suite_evaluation(run(1, "perplexity", PPL, files=wt), "perplexity")
    assert dict(a.files) == {"wikitext2/test.jsonl": "aa"}  # only the suite's own files
    other_zs = {"wikitext2/test.jsonl": "aa", "zeroshot/piqa/validation.jsonl": "yy"}
    assert a.matches(suite_evaluation(run(2, "perplexity", PPL, files=other_zs), "perplexity"))
    changed = {"wikitext2/test.jsonl": "bb"}
    assert not a.matches(suite_evaluation(run(3, "perplexity", PPL, files=changed), "perplexity"))
    more = {"wikitext2/test.jsonl": "aa", "c4/validation_2k.jsonl": "cc"}  # another task: fine
    assert a.matches(suite_evaluation(run(4, "perplexity", PPL, files=more), "perplexity"))


def test_suites_of_separate_runs_merge_and_a_smoke_test_stays_apart():
    rows = merged([run(1, "perplexity", PPL), run(2, "zeroshot", ZS), run(3, "perplexity", SMOKE)])
    assert set(rows) == {(2, 1), (3,)}
    assert rows[(2, 1)].anchor == 2 and rows[(3,)].partial and not rows[(2, 1)].partial


def test_method_config_and_failed_or_empty_runs():
    runs = [
        run(1, "perplexity", PPL, method="orthorank", method_config={"layers": "last"}),
        run(2, "perplexity", PPL, method="orthorank", method_config={"layers": "0-15"}),
        run(3, "perplexity", PPL, method="orthorank", method_config={"layers": "last"}),
        run(4, "perplexity", PPL, status="failed"),
    ]
    suites = {1: ["perplexity"], 2: ["perplexity"], 3: ["perplexity"], 4: ["perplexity"]}
    got = sorted(tuple(r.run_ids) for r in merge_runs(runs, suites))
    assert got == [(2,), (3, 1)]  # the failed run joins nothing
    assert merge_runs([run(5, "perplexity", PPL)], {5: []}) == []  # stored no results


def test_cpu_and_gpu_speed_rows_both_carry_the_quality():
    rows = merged([run(1, "perplexity", PPL), run(2, "throughput", TP),
                   run(3, "throughput", TP, device=CPU)])  # fmt: skip
    assert set(rows) == {(3, 1), (2, 1)}
    gpu = next(r for r in rows.values() if r.anchor == 2)
    assert gpu.shared == {"perplexity"} and gpu.sources["perplexity"] == [1]


def test_newest_run_wins_a_metric_both_stored():
    rows = merged([run(1, "perplexity", PPL), run(2, "perplexity", PPL)])
    row = rows[(2, 1)]
    results = [
        SimpleNamespace(run_id=1, suite="perplexity", task="wikitext2", metric="perplexity", value=10.0),
        SimpleNamespace(run_id=1, suite="perplexity", task="c4", metric="perplexity", value=30.0),
        SimpleNamespace(run_id=2, suite="perplexity", task="wikitext2", metric="perplexity", value=11.0),
        SimpleNamespace(run_id=9, suite="perplexity", task="wikitext2", metric="perplexity", value=99.0),
    ]  # fmt: skip
    picked = {(r.task, r.value) for r in pick_results(row, results)}
    assert picked == {("wikitext2", 11.0), ("c4", 30.0)}


def test_dense_match_needs_the_same_evaluation():
    runs = [run(1, "perplexity", PPL), run(2, "perplexity", SMOKE),
            run(3, "perplexity", SMOKE, method="shortgpt"), run(4, "perplexity", {**PPL, "seq_len": 512}, method="sleb")]  # fmt: skip
    rows = merge_runs(runs, {r["id"]: ["perplexity"] for r in runs})
    by_anchor = {r.anchor: r for r in rows}
    smoke = by_anchor[3].evaluations["perplexity"]
    assert dense_match(rows, subject(runs[2]).model, smoke).anchor == 2
    assert dense_match(rows, subject(runs[3]).model, by_anchor[4].evaluations["perplexity"]) is None
    other_hash = {**runs[0], "model_hash": "other"}
    assert (
        dense_match(rows, subject(other_hash).model, by_anchor[1].evaluations["perplexity"]) is None
    )


def test_random_seeds_pool_into_one_row_with_mean_and_spread():
    from db.evaluation import pool_seeds

    def rnd(i, seed, sparsity=0.2):
        return run(i, "perplexity", PPL, method="random",
                   method_config={"sparsity": sparsity, "num_layers": None, "seed": seed})  # fmt: skip

    runs = [rnd(1, 0), rnd(2, 1), rnd(3, 2), rnd(4, 1), rnd(5, 0, sparsity=0.3)]
    rows = merged(runs)
    assert set(rows) == {(4, 3, 2, 1), (5,)}  # seeds pooled; another sparsity is its own row
    row = rows[(4, 3, 2, 1)]
    assert row.seeds == {1: 0, 2: 1, 3: 2, 4: 1}
    values = {1: 10.0, 2: 99.0, 3: 14.0, 4: 12.0}  # run 4 re-measured seed 1: it wins
    results = [{"run_id": i, "suite": "perplexity", "task": "wikitext2", "metric": "ppl",
                "value": v} for i, v in values.items()]  # fmt: skip
    picked = pick_results(row, results)
    assert sorted(r["run_id"] for r in picked) == [1, 3, 4]
    (pooled,) = pool_seeds(row, picked)
    assert pooled["value"] == 12.0 and pooled["spread"] == 2.0  # mean, sample sd of 10, 14, 12
    assert pooled["seed_values"] == {0: 10.0, 1: 12.0, 2: 14.0} and pooled["run_id"] == 4
    # other methods: the seed stays part of the subject, results pass unchanged
    a, b = (run(i, "perplexity", PPL, method="sleb", method_config={"seed": i}) for i in (6, 7))
    sleb = merged([a, b])
    assert set(sleb) == {(6,), (7,)} and not sleb[(6,)].seeds
    assert pool_seeds(sleb[(6,)], results[:1]) == results[:1]
    assert subject(rnd(8, 3)) == subject(rnd(9, 4)) != subject(a)


def test_the_same_config_that_removed_other_layers_is_another_row():
    """Shortened LLaMA's criterion took layer 13 on an H200 and 18 on a CPU (near-tied scores):
    one config, two pruned models, two rows; the same layers in another order still join."""
    cfg = {"criterion": "ppl", "sparsity": 0.2}

    def pruned(i, suite, config, removed, device=GPU):
        r = run(i, suite, config, method="shortened-llama", method_config=cfg, device=device)
        r["method_details"] = {"removed_layers": removed, "kept_layers": [0, 1]}
        return r

    gpu_ppl = pruned(1, "perplexity", PPL, [5, 17, 14, 12, 4, 13])
    gpu_zs = pruned(2, "zeroshot", ZS, [13, 4, 12, 14, 17, 5])  # same set, other order
    cpu_ppl = pruned(3, "perplexity", PPL, [5, 17, 14, 12, 4, 18], device=CPU)
    rows = merged([gpu_ppl, gpu_zs, cpu_ppl])
    assert set(rows) == {(2, 1), (3,)}
    assert subject(gpu_ppl) == subject(gpu_zs) != subject(cpu_ppl)
    assert subject(gpu_ppl).structure == '{"removed_layers":[4,5,12,13,14,17]}'
    sublayers = pruned(4, "perplexity", PPL, [])
    sublayers["method_details"] = {"removed_sublayers": ["attn.3", "mlp.1"]}
    assert "removed_sublayers" in subject(sublayers).structure


def test_random_seeds_stay_one_subject_whatever_layers_each_removed():
    a = run(1, "perplexity", PPL, method="random", method_config={"seed": 0, "sparsity": 0.2})
    b = run(2, "perplexity", PPL, method="random", method_config={"seed": 1, "sparsity": 0.2})
    a["method_details"] = {"removed_layers": [1, 2]}
    b["method_details"] = {"removed_layers": [3, 4]}
    assert subject(a) == subject(b) and subject(a).structure == ""
