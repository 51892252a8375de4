"""Zero-shot suite: lm-eval parity, batch-size invariance for every method, configs, average."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from harness.models import LoadedModel, ModelSpec, load_model
from harness.suites.base import SuiteContext
from harness.suites.zeroshot.suite import ZeroShotSuite, collect_results
from methods.registry import available_methods
from skipbench.errors import InvalidInput

SEVEN = ("piqa", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "boolq", "openbookqa")
# the reference run's own task files, written here independently of harness.suites.zeroshot.lm_eval_tasks
REFERENCE = {
    "piqa": ("piqa/piqa.yaml", {"validation": "piqa/validation.jsonl"}),
    "hellaswag": ("hellaswag/hellaswag.yaml", {"validation": "hellaswag/validation.jsonl"}),
    "winogrande": ("winogrande/default.yaml", {"validation": "winogrande/validation.jsonl"}),
    "arc_easy": ("arc/arc_easy.yaml", {"test": "arc_easy/test.jsonl"}),
    "arc_challenge": ("arc/arc_challenge.yaml", {"test": "arc_challenge/test.jsonl"}),
    "boolq": ("super_glue/boolq/default.yaml", {"validation": "boolq/validation.jsonl"}),
    "openbookqa": ("openbookqa/openbookqa.yaml", {"test": "openbookqa/test.jsonl"}),
}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models on a shared 2-core machine run far faster single-threaded (no OMP spinning)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_suite(lm: LoadedModel, **params) -> tuple[dict, dict]:
    outcome = ZeroShotSuite(ZeroShotSuite.Config.from_params(params)).run(lm, SuiteContext())
    values = {(r.task, r.metric): r.value for r in outcome.results}
    return values, outcome.artifacts


def direct_lm_eval(
    pretrained: Path, tasks: tuple[str, ...], limit: int, folder: Path, data: Path
) -> dict:
    """A plain ``lm_eval.simple_evaluate`` run with lm-eval's own HF loader and batching."""
    import lm_eval
    import lm_eval.tasks
    from lm_eval.tasks import TaskManager

    builtin = Path(lm_eval.tasks.__file__).parent
    for task in tasks:
        yaml_path, files = REFERENCE[task]
        config = {
            "include": str(builtin / yaml_path), "task": task, "dataset_path": "json", "dataset_name": None,
            "dataset_kwargs": {"data_files": {s: str(data / "zeroshot" / f) for s, f in files.items()}},
            "training_split": None, "validation_split": "validation" if "validation" in files else None,
            "test_split": "test" if "test" in files else None,
        }  # fmt: skip
        (folder / f"{task}.yaml").write_text(yaml.safe_dump(config))
    return lm_eval.simple_evaluate(
        model="hf", model_args={"pretrained": str(pretrained), "dtype": "float32", "device": "cpu"},
        tasks=list(tasks), task_manager=TaskManager(include_path=str(folder), include_defaults=False),
        limit=limit, batch_size=1, bootstrap_iters=0,
    )  # fmt: skip


def assert_same_as_direct(ours: dict, samples: dict, direct: dict, tasks: tuple[str, ...]) -> None:
    for task in tasks:
        row = direct["results"][task]
        for metric in ("acc", "acc_norm"):
            if f"{metric},none" in row:
                assert ours[(task, metric)] == row[f"{metric},none"], (task, metric)
        ref = [
            [r[0] for r in s["filtered_resps"]]
            for s in sorted(direct["samples"][task], key=lambda s: s["doc_id"])
        ]
        got = [s["loglikelihoods"] for s in sorted(samples[task], key=lambda s: s["doc_id"])]
        assert len(got) == len(ref)
        for a, b in zip(got, ref):
            assert a == pytest.approx(b, rel=1e-5, abs=1e-4)


def test_accuracies_equal_a_direct_lm_eval_run_tiny(tiny_model_dir, shared_data_dir, tmp_path):
    lm = load_model(ModelSpec(source=str(tiny_model_dir), device="cpu"))
    ours, artifacts = run_suite(lm, limit=3, log_samples=True)
    direct = direct_lm_eval(tiny_model_dir, SEVEN, 3, tmp_path, shared_data_dir)
    assert_same_as_direct(ours, artifacts["samples"], direct, SEVEN)


@pytest.mark.slow
def test_accuracies_equal_a_direct_lm_eval_run_smollm2(smollm2_dir, shared_data_dir, tmp_path):
    tasks = ("winogrande", "arc_easy")
    lm = load_model(ModelSpec(source=str(smollm2_dir), device="cpu"))
    ours, artifacts = run_suite(lm, tasks=tasks, limit=4, log_samples=True)
    direct = direct_lm_eval(smollm2_dir, tasks, 4, tmp_path, shared_data_dir)
    assert_same_as_direct(ours, artifacts["samples"], direct, tasks)


def _method_params(cls: type) -> dict:
    """Small, calibration-free where the method allows it, configs for a 4-layer model."""
    wanted = {
        "num_layers": 1,
        "layers": "last",
        "sparsity": 0.25,
        "calib_samples": 2,
        "calib_seq_len": 32,
    }
    fields = {name for name, _, _ in cls.Config.describe()}
    return {k: v for k, v in wanted.items() if k in fields}


def _tiny_with_method(name: str) -> LoadedModel:
    import torch

    from methods.base import ApplyContext
    from tests.tiny import tiny_model, tiny_tokenizer

    cls = available_methods()[name]
    method = cls(cls.Config.from_params(_method_params(cls)))
    model = tiny_model("llama", num_layers=4, seed=1)
    calibration = None
    spec = method.calibration_spec()
    if spec is not None:
        calibration = torch.randint(
            4, 96, (spec.num_samples, spec.seq_len), generator=torch.Generator().manual_seed(0)
        )
    model = method.apply(model, ApplyContext(calibration=calibration)).model
    return LoadedModel(model, tiny_tokenizer(), ModelSpec(source=f"tiny-{name}"), {})


@pytest.mark.parametrize("method", sorted(available_methods()))
def test_batch_size_does_not_change_loglikelihoods(method, shared_data_dir):
    lm = _tiny_with_method(method)
    tasks = ("piqa", "arc_easy")
    _, one = run_suite(lm, tasks=tasks, limit=5, batch_size=1, log_samples=True)
    _, eight = run_suite(lm, tasks=tasks, limit=5, batch_size=8, log_samples=True)
    for task in tasks:
        for a, b in zip(one["samples"][task], eight["samples"][task], strict=True):
            assert a["doc_id"] == b["doc_id"]
            assert a["loglikelihoods"] == pytest.approx(b["loglikelihoods"], rel=1e-5, abs=1e-5)


def test_padding_would_leak_into_a_sequence_wide_method_without_the_wrapper():
    """A layer that mixes in the sequence mean (as token selection does) sees lm-eval's right
    padding: stock HFLM scores change with the batch size, SkipBenchHFLM's do not."""
    from lm_eval.models.huggingface import HFLM

    from harness.suites.zeroshot.lm_eval_tasks.lm import SkipBenchHFLM
    from methods.layers import decoder_layers
    from tests.tiny import tiny_model, tiny_tokenizer

    model = tiny_model("llama", num_layers=2, seed=3)

    def mix_in_mean(module, args, kwargs):  # noqa: ANN001, ANN202
        hidden = args[0] + args[0].mean(dim=1, keepdim=True)
        return (hidden, *args[1:]), kwargs

    decoder_layers(model)[0].register_forward_pre_hook(mix_in_mean, with_kwargs=True)
    requests = [(("", ""), list(range(5, 5 + n)), [40, 41]) for n in (3, 9, 17, 9, 30, 3)]

    def scores(cls: type, batch: int) -> list[float]:
        lm = cls(pretrained=model, tokenizer=tiny_tokenizer(), batch_size=batch)
        return [ll for ll, _ in lm._loglikelihood_tokens(requests, disable_tqdm=True)]

    stock_1, stock_8 = scores(HFLM, 1), scores(HFLM, 8)
    assert max(abs(a - b) for a, b in zip(stock_1, stock_8)) > 1e-3  # padding leaked
    ours_1, ours_8 = scores(SkipBenchHFLM, 1), scores(SkipBenchHFLM, 8)
    assert ours_8 == pytest.approx(ours_1, rel=1e-6, abs=1e-6)
    assert ours_1 == pytest.approx(stock_1, rel=1e-5, abs=1e-5)  # unpadded rows: same numbers


def test_sample_records_are_consistent(shared_data_dir):
    lm = _tiny_with_method("dense")
    values, artifacts = run_suite(lm, tasks=("piqa", "openbookqa"), limit=6, log_samples=True)
    for task, n_choices in (("piqa", 2), ("openbookqa", 4)):
        records = artifacts["samples"][task]
        assert len(records) == 6
        for r in records:
            assert len(r["prompt_hash"]) == 64 and len(r["loglikelihoods"]) == n_choices
            best = max(range(n_choices), key=lambda i: r["loglikelihoods"][i])
            assert r["acc"] == float(best == r["target"])
            assert r["choice"] == best and len(r["choices"]) == n_choices and r["prompt"]
        assert values[(task, "acc")] == pytest.approx(sum(r["acc"] for r in records) / 6)
    json.dumps(artifacts)  # storable as a JSON artifact


def test_average_uses_acc_norm_where_defined():
    out = {
        "results": {
            "piqa": {
                "acc,none": 0.6,
                "acc_stderr,none": 0.1,
                "acc_norm,none": 0.7,
                "acc_norm_stderr,none": 0.1,
            },
            "winogrande": {"acc,none": 0.5, "acc_stderr,none": 0.05},
            "hellaswag": {"acc,none": 0.3, "acc_stderr,none": "N/A", "acc_norm,none": 0.4},
            "arc_easy": {"acc,none": 0.5, "acc_norm,none": 0.45},
            "arc_challenge": {"acc,none": 0.2, "acc_norm,none": 0.25},
            "boolq": {"acc,none": 0.9},
        },
        "n-samples": {t: {"effective": 10} for t in SEVEN},
    }
    tasks = ("piqa", "winogrande", "hellaswag", "arc_easy", "arc_challenge", "boolq")
    results, members = collect_results(out, tasks)
    by_key = {(r.task, r.metric): r for r in results}
    # (0.7 + 0.5 + 0.4 + 0.45 + 0.25) / 5 = 0.46; boolq is not a member
    assert by_key[("average", "average")].value == pytest.approx(0.46)
    assert members == {
        "piqa": "acc_norm",
        "winogrande": "acc",
        "hellaswag": "acc_norm",
        "arc_easy": "acc_norm",
        "arc_challenge": "acc_norm",
    }
    assert by_key[("hellaswag", "acc")].stderr is None and by_key[("piqa", "acc")].stderr == 0.1
    assert by_key[("boolq", "acc")].n == 10
    partial, why = collect_results(out, ("piqa", "boolq"))
    assert ("average", "average") not in {(r.task, r.metric) for r in partial} and "skipped" in why


def test_generated_configs_point_at_builtin_tasks_and_hashed_local_files(shared_data_dir, tmp_path):
    from harness.suites.zeroshot.lm_eval_tasks import TASKS, lm_eval_tasks_dir, write_configs

    written = write_configs(tuple(TASKS), tmp_path, "auto")
    sums = dict(
        reversed(line.split(maxsplit=1))
        for line in (shared_data_dir / "SHA256SUMS").read_text().splitlines()
        if line
    )
    for name in TASKS:
        config = yaml.safe_load((tmp_path / f"{name}.yaml").read_text())
        assert Path(config["include"]).is_file() and Path(config["include"]).is_relative_to(
            lm_eval_tasks_dir()
        )
        assert config["dataset_path"] == "json" and written.origins[name] == "local"
        for path in config["dataset_kwargs"]["data_files"].values():
            rel = str(Path(path).relative_to(shared_data_dir))
            assert written.data_files[rel] == sums[rel].strip()


def test_hub_fallback_and_offline_refusal(tmp_path, monkeypatch):
    from harness.suites.zeroshot.lm_eval_tasks import write_configs
    from skipbench.settings import reset_settings_cache

    monkeypatch.setenv("SKIPBENCH_SHARED_DIR", str(tmp_path / "nothing"))
    reset_settings_cache()
    written = write_configs(("piqa",), tmp_path, "auto")
    assert written.origins == {"piqa": "hub"} and written.data_files == {}
    assert set(yaml.safe_load((tmp_path / "piqa.yaml").read_text())) == {"include", "task"}
    with pytest.raises(InvalidInput, match="not found"):
        write_configs(("piqa",), tmp_path, "local")
    monkeypatch.setenv("SKIPBENCH_OFFLINE", "1")
    reset_settings_cache()
    with pytest.raises(InvalidInput, match="OFFLINE"):
        write_configs(("piqa",), tmp_path, "auto")


@pytest.mark.parametrize(
    "params, message",
    [({"batch_size": "0"}, "batch_size"), ({"data_source": "web"}, "data_source"), ({"limit": "0"}, "limit"),
     ({"tasks": "piqa,mmlu"}, "mmlu"), ({"shots": "5"}, "shots")],
)  # fmt: skip
def test_bad_config_is_invalid_input(params, message):
    from harness.suites.base import build_suite

    with pytest.raises(InvalidInput, match=message):
        build_suite("zeroshot", params)


def test_suite_declares_its_metrics():
    for spec in ZeroShotSuite.metrics:
        assert spec.display_name and isinstance(spec.higher_is_better, bool)
    assert ZeroShotSuite.metric("perplexity").higher_is_better is False
    assert math.isclose(len(ZeroShotSuite.default_tasks), 7)


@pytest.mark.skipif(
    "orthorank" not in available_methods(), reason="methods/orthorank.py not present"
)
def test_orthorank_scores_would_change_with_padding_without_the_wrapper():
    """The real token-selection method: right padding changes which tokens it keeps."""
    from lm_eval.models.huggingface import HFLM

    from harness.suites.zeroshot.lm_eval_tasks.lm import SkipBenchHFLM

    lm = _tiny_with_method("orthorank")
    requests = [(("", ""), list(range(5, 5 + n)), [40, 41]) for n in (3, 9, 17, 9, 30, 3, 25, 12)]

    def scores(cls: type, batch: int) -> list[float]:
        wrapped = cls(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=batch)
        return [ll for ll, _ in wrapped._loglikelihood_tokens(requests, disable_tqdm=True)]

    assert max(abs(a - b) for a, b in zip(scores(HFLM, 1), scores(HFLM, 8))) > 1e-3
    assert scores(SkipBenchHFLM, 8) == pytest.approx(scores(SkipBenchHFLM, 1), rel=1e-6, abs=1e-6)
