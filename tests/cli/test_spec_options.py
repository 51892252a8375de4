import pytest

from cli.spec_options import build_spec
from skipbench.errors import InvalidInput

BASE = dict(
    model="x",
    method="dense",
    sparsity=None,
    sets=None,
    suites=None,
    tasks=None,
    suite_sets=None,
    limit=None,
    seq_len=None,
    batch_size=None,
    device="cpu",
    dtype="auto",
    revision=None,
    trust_remote_code=False,
    seed=0,
)


def test_tasks_are_routed_and_shared_options_applied_where_they_exist():
    spec = build_spec(
        **{
            **BASE,
            "suites": ["zeroshot", "perplexity"],
            "tasks": ["piqa", "c4"],
            "limit": 3,
            "seq_len": 512,
        },
        log_samples=True,
    )
    params = {s.name: s.params for s in spec.suites}
    assert params["zeroshot"] == {"tasks": ["piqa"], "limit": 3, "log_samples": True}
    assert params["perplexity"] == {"tasks": ["c4"], "limit": 3, "seq_len": 512}


def test_suite_set_and_method_params():
    spec = build_spec(
        **{
            **BASE,
            "method": "shortgpt",
            "sparsity": 0.25,
            "sets": ["calib_samples=8"],
            "suite_sets": ["perplexity.batch_size=4"],
        }
    )
    assert spec.method_params == {"calib_samples": "8", "sparsity": 0.25}
    assert spec.suites[0].params == {"batch_size": "4"}
    with pytest.raises(InvalidInput, match="--suite-set 'zeroshot.limit'"):
        build_spec(**{**BASE, "suite_sets": ["zeroshot.limit=3"]})
