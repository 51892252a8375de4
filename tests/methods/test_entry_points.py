"""The worked example of docs/adding-a-method.md, installed for real and run through SkipBench.

The example package (examples/skipbench-every-kth) is pip-installed into a temporary target
folder, never into the venv; subprocesses see it through PYTHONPATH, so entry-point discovery
is exactly what an installed plug-in gets, and this process's registry stays untouched.
"""

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "skipbench-every-kth"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("plugin")
    source = work / "src"
    shutil.copytree(EXAMPLE, source)  # the build writes into the source folder: keep the repo clean
    site = work / "site"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--target",
        str(site),
        str(source),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return site


def _run(site: Path, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_plugin_is_not_installed_in_this_environment():
    assert "every-kth" not in {ep.name for ep in entry_points(group="skipbench.methods")}


_CHECK = r"""
import copy, json, torch, torch.nn as nn
from methods.base import ApplyContext
from methods.registry import available_methods, get_method
from tests.tiny import tiny_model

cls = get_method("every-kth")
model = tiny_model("llama", 7)
reference = copy.deepcopy(model)
outcome = cls(cls.Config.from_params({"k": "3"})).apply(model, ApplyContext())
# independent deletion of layers 2 and 5 (k=3: indices k-1, 2k-1)
reference.model.layers = nn.ModuleList([reference.model.layers[i] for i in (0, 1, 3, 4, 6)])
reference.config.num_hidden_layers = 5
ids = torch.randint(3, 90, (2, 12), generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    diff = (outcome.model(input_ids=ids, use_cache=False).logits
            - reference(input_ids=ids, use_cache=False).logits).abs().max().item()
try:
    cls.Config.from_params({"k": "1"})
    bad = None
except Exception as exc:
    bad = f"{type(exc).__name__}: {exc}"
print(json.dumps({"module": cls.__module__, "listed": "every-kth" in available_methods(),
                  "details": outcome.details, "diff": diff, "bad": bad}))
"""


def test_registry_finds_and_applies_the_plugin(plugin_site):
    proc = _run(plugin_site, ["-c", _CHECK])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["module"] == "skipbench_every_kth" and out["listed"]
    assert out["details"]["removed_layers"] == [2, 5]
    assert out["details"]["kept_layers"] == [0, 1, 3, 4, 6]
    assert out["details"]["sparsity"]["realized"] == pytest.approx(2 / 7)
    assert out["diff"] < 1e-5
    assert out["bad"] == "InvalidInput: k=1 must be >= 2 (k=1 would drop every layer)"


def test_skipbench_run_uses_the_plugin(plugin_site, tiny_model_dir, shared_data_dir):
    listing = _run(plugin_site, ["-m", "cli.main", "methods"])
    assert listing.returncode == 0, listing.stderr
    assert "every-kth" in listing.stdout
    args = [
        "-m",
        "cli.main",
        "run",
        "--model",
        str(tiny_model_dir),
        "--method",
        "every-kth",
        "--set",
        "k=2",
        "--suite",
        "perplexity",
        "--task",
        "wikitext2",
        "--limit",
        "1",
        "--seq-len",
        "32",
        "--json",
    ]
    proc = _run(plugin_site, args)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert record["status"] == "succeeded" and record["method"]["name"] == "every-kth"
    assert record["method"]["details"]["removed_layers"] == [1]  # 4 layers, k=2, last one kept
    assert record["sparsity"] == 0.5
    assert {r["metric"] for r in record["results"]} == {"perplexity", "nll"}
    bad = _run(plugin_site, [*args[:7], "--set", "k=0", *args[9:]])
    assert bad.returncode == 2 and "k=0 must be >= 2" in bad.stderr
