from dataclasses import dataclass

import pytest

from methods import registry
from methods.base import ApplyContext, Method, MethodConfig, MethodOutcome
from skipbench.errors import InvalidInput


@dataclass(frozen=True)
class _Cfg(MethodConfig):
    k: int = 2
    flag: bool = False
    layers: tuple[int, ...] = ()


def _make(name: str) -> type[Method]:
    class _M(Method):
        description = "test"
        Config = _Cfg

        def apply(self, model, ctx: ApplyContext) -> MethodOutcome:
            return MethodOutcome(model)

    _M.name = name
    return _M


def test_builtins_registered():
    names = registry.available_methods()
    assert {"dense", "shortgpt"} <= set(names)


def test_duplicate_name_rejected():
    cls = _make("dup-test-method")
    registry.register_method(cls)
    try:
        registry.register_method(cls)  # same class again is idempotent
        with pytest.raises(ValueError, match="already registered"):
            registry.register_method(_make("dup-test-method"))
    finally:
        registry.METHODS.unregister("dup-test-method")


def test_unknown_name_lists_known_and_suggests():
    with pytest.raises(InvalidInput) as exc:
        registry.get_method("shortgtp")
    msg = str(exc.value)
    assert "did you mean 'shortgpt'" in msg
    assert "dense" in msg and "shortgpt" in msg
    assert "\n" not in msg


def test_config_from_params_coerces_and_rejects():
    cfg = _Cfg.from_params({"k": "5", "flag": "true", "layers": "3,1,2"})
    assert cfg == _Cfg(k=5, flag=True, layers=(3, 1, 2))
    with pytest.raises(InvalidInput, match="unknown parameter.*bogus.*allowed: flag, k, layers"):
        _Cfg.from_params({"bogus": "1"})
    with pytest.raises(InvalidInput, match="k='x' is not a valid int"):
        _Cfg.from_params({"k": "x"})
    with pytest.raises(InvalidInput, match="not a boolean"):
        _Cfg.from_params({"flag": "maybe"})


def test_layer_skip_config_counts():
    from methods.shortgpt import ShortGPTConfig

    assert ShortGPTConfig(sparsity=0.1).layers_to_skip(32) == 4
    assert ShortGPTConfig(sparsity=0.2).layers_to_skip(32) == 7
    assert ShortGPTConfig(sparsity=0.2).layers_to_skip(30) == 6
    assert ShortGPTConfig(num_layers=3).layers_to_skip(30) == 3
    with pytest.raises(InvalidInput, match="num_layers=30 must be smaller than the model's 30"):
        ShortGPTConfig(num_layers=30).layers_to_skip(30)
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(InvalidInput, match="outside \\[0, 1\\)"):
            ShortGPTConfig(sparsity=bad)
