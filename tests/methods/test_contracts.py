"""The method contract: typed configs, the calibration mixin, the removal details, the imports.

The stored config dicts' key orders below were captured from the code before the calibration
mixin existed; a change of dataclass inheritance that moves a field fails here.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from methods.base import (
    ApplyContext,
    CalibratedConfig,
    CalibrationSpec,
    LayerSkipConfig,
    Method,
    MethodConfig,
    MethodOutcome,
)
from methods.registry import get_method
from skipbench.errors import InvalidInput

METHODS_DIR = Path(__file__).resolve().parents[2] / "methods"

CALIB = ["calib_dataset", "calib_samples", "calib_seq_len", "seed"]
STORED_KEYS = {
    "shortgpt": ["sparsity", "num_layers", *CALIB],
    "sleb": ["sparsity", "num_layers", *CALIB, "skip_first", "skip_last", "calib_unit"],
    "orthorank": ["sparsity", "keep_ratio", "layers", "score", "unselected_kv", *CALIB, "kernel"],
}


@pytest.mark.parametrize("name", sorted(STORED_KEYS))
def test_stored_config_keeps_its_keys_and_order(name):
    config = get_method(name).Config()
    assert list(dataclasses.asdict(config)) == STORED_KEYS[name]
    assert list(config.to_dict()) == STORED_KEYS[name]
    assert [row[0] for row in type(config).describe()] == STORED_KEYS[name]


@pytest.mark.parametrize("name", ["shortgpt", "sleb", "orthorank"])
def test_calibration_fields_come_from_the_mixin(name):
    cls = get_method(name)
    assert issubclass(cls.Config, CalibratedConfig)
    config = cls.Config.from_params({"calib_samples": "7", "calib_seq_len": "33", "seed": "5"})
    unit = "rows" if name == "sleb" else "windows"  # SLEB's official protocol (issue 15)
    assert config.calibration_spec() == CalibrationSpec("c4", 7, 33, 5, unit)
    with pytest.raises(InvalidInput, match="calib_samples=0 must be >= 1"):
        cls.Config.from_params({"calib_samples": "0"})


def test_orthorank_reads_calibration_only_for_searched_layers():
    cls = get_method("orthorank")
    assert cls(cls.Config(layers="shortgpt")).calibration_spec() == CalibrationSpec()
    assert cls(cls.Config(layers="last")).calibration_spec() is None


@dataclasses.dataclass(frozen=True)
class ShortCalibConfig(CalibratedConfig, LayerSkipConfig):
    calib_samples: int = 16  # a per-method default keeps the field's place
    extra: int = 1


class ShortCalib(Method[ShortCalibConfig]):
    name = "test_short_calib"
    description = "test only"

    def apply(self, model, ctx: ApplyContext) -> MethodOutcome:
        return MethodOutcome(model=model, details={"extra": self.config.extra})


def test_generic_method_derives_config_and_calibration():
    assert ShortCalib.Config is ShortCalibConfig
    method = ShortCalib()
    assert isinstance(method.config, ShortCalibConfig)
    assert method.calibration_spec() == CalibrationSpec("c4", 16, 2048, 0)
    assert list(dataclasses.asdict(method.config)) == [*STORED_KEYS["shortgpt"], "extra"]
    with pytest.raises(TypeError, match="expects ShortCalibConfig"):
        ShortCalib(MethodConfig())


def test_a_contradicting_config_is_refused_and_an_explicit_one_still_works():
    with pytest.raises(TypeError, match="contradicts"):

        class Bad(Method[ShortCalibConfig]):
            name = "test_bad"
            description = "test only"
            Config = LayerSkipConfig

    class Legacy(Method):  # the older plug-in style: no type argument, Config in the body
        name = "test_legacy"
        description = "test only"
        Config = LayerSkipConfig

        def apply(self, model, ctx: ApplyContext) -> MethodOutcome:
            return MethodOutcome(model=model)

    assert Legacy.Config is LayerSkipConfig and isinstance(Legacy().config, LayerSkipConfig)
    assert Legacy().calibration_spec() is None


def test_apply_context_has_no_batch_size():
    assert "batch_size" not in {f.name for f in dataclasses.fields(ApplyContext)}


def test_removal_details_describe_the_removal():
    pytest.importorskip("torch")
    from methods.layers import decoder_layers, remove_with_details
    from tests.tiny import tiny_model

    model = tiny_model("llama", 6)
    layers = list(decoder_layers(model))
    sizes = [sum(p.numel() for p in layer.parameters()) for layer in layers]
    everything = sum(p.numel() for p in model.parameters())
    details = remove_with_details(
        model, [4, 1], 0.25, per_removal={"loss": [1.0, 2.0]}, extra={"note": "x"}
    )
    assert list(details) == [
        "removed_layers",
        "loss",
        "kept_layers",
        "num_layers_total",
        "note",
        "sparsity",
    ]
    assert details["removed_layers"] == [4, 1] and details["kept_layers"] == [0, 2, 3, 5]
    assert details["num_layers_total"] == 6 and details["note"] == "x"
    assert details["sparsity"] == {
        "nominal": 0.25,
        "realized": 2 / 6,
        "param_fraction_removed": (sizes[4] + sizes[1]) / everything,
    }
    assert list(decoder_layers(model)) == [layers[i] for i in (0, 2, 3, 5)]

    nothing = remove_with_details(model, [], 0.0)
    assert nothing["removed_layers"] == [] and nothing["kept_layers"] == [0, 1, 2, 3]
    assert nothing["sparsity"]["realized"] == 0.0 and len(decoder_layers(model)) == 4


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every ``from X import ...`` in ``path``, at any depth."""
    tree = ast.parse(path.read_text())
    return [
        (node.module or "", [a.name for a in node.names])
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    ]


def test_no_private_name_is_imported_across_files():
    roots = [METHODS_DIR, Path(__file__).resolve().parent]
    offenders = [
        f"{path.name}: from {module} import {name}"
        for root in roots
        for path in root.rglob("*.py")
        for module, names in _imports(path)
        for name in names
        if name.startswith("_") and not name.startswith("__") and not module.startswith("torch")
    ]
    assert offenders == []


READING_ORDER = [
    "method",
    "flops",
    "dispatch",
    "fused",
    "flex",
    "reference",
    "block_mask",
    "selection",
    "ops",
]


def test_orthorank_modules_import_only_the_ones_below_them():
    folder = METHODS_DIR / "orthorank"
    assert {p.stem for p in folder.glob("*.py")} == {*READING_ORDER, "__init__"}
    kernels = {"fused", "flex", "reference"}
    for name in READING_ORDER:
        used = {
            module.rsplit(".", 1)[-1]
            for module, _ in _imports(folder / f"{name}.py")
            if module.startswith("methods.orthorank")
        }
        below = set(READING_ORDER[READING_ORDER.index(name) + 1 :])
        assert used <= below, (name, used - below)
        if name != "dispatch":
            assert not used & kernels, (name, used & kernels)  # only the dispatch knows kernels


@pytest.mark.parametrize(
    "name",
    ["angular", "blockpruner", "orthorank", "shortened-llama", "sleb", "shortgpt", "llm-drop"],
)
def test_pg19_windows_only_for_methods_that_read_window_lists(name):
    from methods.registry import get_method
    from skipbench.errors import InvalidInput

    config = get_method(name).Config
    if name in ("shortgpt", "llm-drop"):
        assert config.from_params({"calib_dataset": "pg19"}).calib_dataset == "pg19"
        assert "reads_window_lists" not in config().to_dict()  # not a stored field
    else:
        with pytest.raises(InvalidInput, match="calib_dataset=pg19"):
            config.from_params({"calib_dataset": "pg19"})
