"""Grid schema and expansion (no model is loaded): counts worked out by hand."""

from __future__ import annotations

import pytest

from cli.sweep_grid import cell_spec, expand, grid_from_mapping, load_grid
from skipbench.errors import InvalidInput

GRID = {
    "models": ["org/model-a", {"source": "org/model-b", "dtype": "float16"}],
    "methods": [
        "dense",
        "shortgpt",
        {"name": "sleb", "sparsities": [0.2]},
        {"name": "shortgpt", "params": {"num_layers": 1}},
        "orthorank",
    ],
    "sparsities": [0.1, 0.2, 0.3],
    "suites": [
        {"name": "perplexity", "tasks": ["wikitext2"], "params": {"limit": 4, "seq_len": 64}},
        {"name": "zeroshot", "tasks": ["piqa"], "sparsities": [0.2]},
    ],
    "seed": 3,
}


def test_expansion_counts_and_order():
    cells = expand(grid_from_mapping(GRID))
    # per model: dense 2 suites x 1 = 2; shortgpt: perplexity x 3 + zeroshot x 1 (only 0.2) = 4;
    # sleb [0.2]: perplexity 1 + zeroshot (0.2 in both) 1 = 2; shortgpt num_layers=1 has no
    # sparsity axis: 2; orthorank (has a sparsity field) like shortgpt: 4  -> 14 per model
    assert len(cells) == 28
    assert [c.index for c in cells] == list(range(1, 29))
    first = [(c.method.name, c.sparsity, c.suite.name) for c in cells[:8]]
    assert first == [
        ("dense", None, "perplexity"),
        ("dense", None, "zeroshot"),
        ("shortgpt", 0.1, "perplexity"),
        ("shortgpt", 0.2, "perplexity"),
        ("shortgpt", 0.2, "zeroshot"),
        ("shortgpt", 0.3, "perplexity"),
        ("sleb", 0.2, "perplexity"),
        ("sleb", 0.2, "zeroshot"),
    ]
    assert {c.model.source for c in cells[14:]} == {"org/model-b"}
    by_method = {}
    for c in cells[:14]:
        by_method[c.method.label] = by_method.get(c.method.label, 0) + 1
    assert by_method == {"dense": 2, "shortgpt": 4, "sleb": 2, "shortgpt(num_layers=1)": 2,
                         "orthorank": 4}  # fmt: skip


def test_method_and_suite_sparsities_intersect():
    grid = grid_from_mapping(
        {
            "models": ["org/m"],
            "methods": [{"name": "shortgpt", "sparsities": [0.1, 0.5]}],
            "sparsities": [0.2],
            "suites": [{"name": "perplexity", "sparsities": [0.5, 0.3]}, "zeroshot"],
        }
    )
    cells = expand(grid)
    # perplexity: method [0.1, 0.5] & suite [0.5, 0.3] -> [0.5]; zeroshot: the method's -> 0.1, 0.5
    assert [(c.sparsity, c.suite.name) for c in cells] == [
        (0.1, "zeroshot"),
        (0.5, "perplexity"),
        (0.5, "zeroshot"),
    ]


def test_cell_spec_equals_the_run_command_spec():
    from cli.spec_options import SpecOptions

    grid = grid_from_mapping(GRID)
    cell = expand(grid)[3]  # shortgpt 0.2 perplexity, model a
    spec = cell_spec(grid, cell)
    same = SpecOptions(model="org/model-a", method="shortgpt", sparsity=0.2, suites=["perplexity"],
                       tasks=["wikitext2"], limit=4, seq_len=64, seed=3).to_spec()  # fmt: skip
    assert spec == same and spec.key() == same.key()
    other = cell_spec(grid, expand(grid)[17])  # model b: its own dtype
    assert other.model.dtype == "float16" and other.key() != spec.key()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"methods": ["dense"], "suites": ["perplexity"]}, "`models` must list"),
        ({"models": ["m/x"], "methods": ["dense"], "suites": ["perplexity"], "colour": 1},
         "unknown key(s) colour"),
        ({"models": ["m/x"], "methods": [{"name": "sleb", "sparsities": [1.5]}],
          "suites": ["perplexity"]}, "sparsity 1.5 is not a number in [0, 1)"),
        ({"models": ["m/x"], "methods": [{"name": "sleb", "params": {"a": {"b": 1}}}],
          "suites": ["perplexity"]}, "parameter a="),
        ({"models": ["m/x"], "methods": [{"name": "sleb", "param": {}}],
          "suites": ["perplexity"]}, "method key(s) param"),
        ({"models": ["m/x"], "methods": ["dense"], "suites": ["perplexity"],
          "sparsities": [0.2, 0.2]}, "lists a sparsity twice"),
    ],
)  # fmt: skip
def test_schema_errors_are_one_line(data, message):
    with pytest.raises(InvalidInput) as exc:
        grid_from_mapping(data)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_load_grid_refuses_missing_and_bad_yaml(tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        load_grid(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [a\n")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_grid(bad)
