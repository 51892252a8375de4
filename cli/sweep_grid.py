"""The sweep grid: a YAML file of models x methods x sparsities x suites, and its cells.

The schema is a set of frozen dataclasses validated in ``__post_init__``; ``load_grid`` is the
YAML edge. ``expand`` turns a grid into cells in a fixed order (model, method, sparsity, suite)
and ``cell_spec`` builds each cell's ``RunSpec`` exactly as ``skipbench run`` would from the same
options, so a cell and the equivalent ``run``/``submit`` share one identity (``RunSpec.key()``).

Sparsity axis: a method whose config has a ``sparsity`` field (and whose params fix neither
``sparsity`` nor ``num_layers``) gets one cell per sparsity; others (``dense``) get one cell.
The list is the grid's ``sparsities``, replaced by a method's or a suite's own ``sparsities``;
where both a method and a suite give one, the cell's sparsities are those in both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skipbench.errors import InvalidInput

# suite options that `skipbench run` takes as typed flags (--limit, --seq-len, ...): passed the
# same way here so that a cell's key equals the key of the equivalent command line
TYPED_SUITE_OPTIONS = ("limit", "seq_len", "batch_size", "log_samples")
_SCALARS = (str, int, float, bool, type(None))


def _check_params(where: str, params: Mapping[str, Any]) -> None:
    if not isinstance(params, Mapping):
        raise InvalidInput(f"grid: {where} params must be a mapping of name: value")
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"grid: {where} has a parameter name {key!r}; expected a string")
        items = value if isinstance(value, list | tuple) else [value]
        if not all(isinstance(v, _SCALARS) for v in items):
            raise InvalidInput(
                f"grid: {where} parameter {key}={value!r}; allowed: a number, string, boolean "
                "or a list of them"
            )


def _check_sparsities(where: str, values: tuple[float, ...] | None) -> None:
    if values is None:
        return
    for s in values:
        if isinstance(s, bool) or not isinstance(s, int | float) or not 0.0 <= s < 1.0:
            raise InvalidInput(f"grid: {where} sparsity {s!r} is not a number in [0, 1)")
    if len(set(values)) != len(values):
        raise InvalidInput(f"grid: {where} lists a sparsity twice: {list(values)}")


@dataclass(frozen=True)
class GridModel:
    source: str
    revision: str | None = None
    dtype: str | None = None  # None: the grid's
    device: str | None = None
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source.strip():
            raise InvalidInput(
                "grid: a model needs a source (hub id, folder, .gguf or catalog name)"
            )


@dataclass(frozen=True)
class GridMethod:
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    sparsities: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInput("grid: a method needs a name")
        _check_params(f"method {self.name!r}", self.params)
        _check_sparsities(f"method {self.name!r}", self.sparsities)

    @property
    def label(self) -> str:
        params = ",".join(f"{k}={_text(v)}" for k, v in self.params.items())
        return f"{self.name}({params})" if params else self.name


@dataclass(frozen=True)
class GridSuite:
    name: str
    tasks: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    sparsities: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInput("grid: a suite needs a name")
        if not all(isinstance(t, str) and t for t in self.tasks):
            raise InvalidInput(f"grid: suite {self.name!r} tasks must be names: {list(self.tasks)}")
        _check_params(f"suite {self.name!r}", self.params)
        _check_sparsities(f"suite {self.name!r}", self.sparsities)

    @property
    def label(self) -> str:
        return f"{self.name}[{','.join(self.tasks)}]" if self.tasks else self.name


@dataclass(frozen=True)
class Grid:
    models: tuple[GridModel, ...]
    methods: tuple[GridMethod, ...]
    suites: tuple[GridSuite, ...]
    sparsities: tuple[float, ...] = ()
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    calib_source: str = "auto"
    name: str = ""

    def __post_init__(self) -> None:
        for what in ("models", "methods", "suites"):
            if not getattr(self, what):
                raise InvalidInput(f"grid: `{what}` must list at least one entry")
        _check_sparsities("grid", self.sparsities)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidInput(f"grid: seed {self.seed!r} is not an integer")


@dataclass(frozen=True)
class Cell:
    index: int  # 1-based position in the expanded grid
    model: GridModel
    method: GridMethod
    sparsity: float | None
    suite: GridSuite

    @property
    def label(self) -> str:
        sparsity = "-" if self.sparsity is None else f"{self.sparsity:g}"
        return f"{self.model.source} · {self.method.label} · s={sparsity} · {self.suite.label}"


# -- the YAML edge ----------------------------------------------------------------------------
_GRID_KEYS = {"name", "models", "methods", "suites", "sparsities", "seed", "device", "dtype",
              "calib_source", "description"}  # fmt: skip
_ENTRY_KEYS = {
    "model": {"source", "revision", "dtype", "device", "trust_remote_code"},
    "method": {"name", "params", "sparsities"},
    "suite": {"name", "tasks", "params", "sparsities"},
}


def _entry(kind: str, raw: Any) -> dict[str, Any]:
    main = "source" if kind == "model" else "name"
    if isinstance(raw, str):
        return {main: raw}
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"grid: a {kind} entry must be a name or a mapping, not {raw!r}")
    unknown = sorted(set(raw) - _ENTRY_KEYS[kind])
    if unknown:
        allowed = ", ".join(sorted(_ENTRY_KEYS[kind]))
        raise InvalidInput(f"grid: {kind} key(s) {', '.join(unknown)}; allowed: {allowed}")
    out = dict(raw)
    for key in ("tasks", "sparsities"):
        if key in out and out[key] is not None:
            value = out[key]
            out[key] = tuple(value) if isinstance(value, list | tuple) else (value,)
    return out


def _listed(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    return list(value) if isinstance(value, list | tuple) else [value]


def grid_from_mapping(data: Any) -> Grid:
    if not isinstance(data, Mapping):
        raise InvalidInput("grid: the file must be a YAML mapping with models, methods, suites")
    unknown = sorted(set(data) - _GRID_KEYS)
    if unknown:
        allowed = ", ".join(sorted(_GRID_KEYS))
        raise InvalidInput(f"grid: unknown key(s) {', '.join(unknown)}; allowed: {allowed}")
    try:
        return Grid(
            models=tuple(GridModel(**_entry("model", m)) for m in _listed(data, "models")),
            methods=tuple(GridMethod(**_entry("method", m)) for m in _listed(data, "methods")),
            suites=tuple(GridSuite(**_entry("suite", s)) for s in _listed(data, "suites")),
            sparsities=tuple(_listed(data, "sparsities")),
            seed=data.get("seed", 0),
            device=str(data.get("device", "auto")),
            dtype=str(data.get("dtype", "auto")),
            calib_source=str(data.get("calib_source", "auto")),
            name=str(data.get("name", "")),
        )
    except TypeError as exc:  # a value of the wrong shape (e.g. params: 3)
        raise InvalidInput(f"grid: {exc}") from None


def load_grid(path: str | Path) -> Grid:
    import yaml

    file = Path(path)
    if not file.is_file():
        raise InvalidInput(f"grid file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(file.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInput(f"grid file {str(path)!r} is not valid YAML: {first}") from None
    return grid_from_mapping(data)


# -- expansion --------------------------------------------------------------------------------
def _takes_sparsity(method: GridMethod) -> bool:
    """Unknown methods count as taking one: their cells are reported as errors anyway."""
    from methods.registry import get_method

    if "sparsity" in method.params or "num_layers" in method.params:
        return False
    try:
        cls = get_method(method.name)
    except InvalidInput:
        return True
    return "sparsity" in {name for name, _, _ in cls.Config.describe()}


def _sparsities(grid: Grid, method: GridMethod, suite: GridSuite) -> list[float]:
    lists = [s for s in (method.sparsities, suite.sparsities) if s is not None]
    if not lists:
        return list(grid.sparsities)
    return [s for s in lists[0] if all(s in other for other in lists[1:])]


def expand(grid: Grid) -> list[Cell]:
    """Every cell, in order model -> method -> sparsity -> suite."""
    cells: list[Cell] = []
    every = list(grid.sparsities)
    for item in (*grid.methods, *grid.suites):
        every += [s for s in item.sparsities or () if s not in every]
    for model in grid.models:
        for method in grid.methods:
            axis = _takes_sparsity(method)
            for sparsity in every if axis else [None]:
                for suite in grid.suites:
                    if sparsity is not None and sparsity not in _sparsities(grid, method, suite):
                        continue
                    cells.append(Cell(len(cells) + 1, model, method, sparsity, suite))
    return cells


def _text(value: Any) -> str:
    """A YAML value as `--set` text (what the command line would pass)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return ",".join(_text(v) for v in value)
    return str(value)


def _typed_option(cell: Cell, key: str) -> Any:
    value = cell.suite.params[key]
    if key == "log_samples":
        if not isinstance(value, bool):
            raise InvalidInput(f"{key}={value!r} is not a boolean; allowed: true, false")
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{key}={value!r} is not an integer")
    return value


def cell_spec(grid: Grid, cell: Cell):  # noqa: ANN201 -> RunSpec (imported lazily)
    """The cell's RunSpec, built like ``skipbench run`` would build it; raises ``InvalidInput``."""
    from cli.spec_options import SpecOptions
    from harness.suites.base import suite_class

    suite = cell.suite
    fields = {name for name, _, _ in suite_class(suite.name).Config.describe()}
    unknown = sorted(set(suite.params) - fields)
    if unknown:
        raise InvalidInput(
            f"unknown {suite.name} parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(fields))}"
        )
    # log_samples=false goes as --suite-set (the --log-samples flag can only turn it on)
    typed = {
        k: _typed_option(cell, k)
        for k in TYPED_SUITE_OPTIONS
        if k in suite.params and (k != "log_samples" or suite.params[k] is True)
    }
    return SpecOptions(
        model=cell.model.source,
        method=cell.method.name,
        sparsity=cell.sparsity,
        sets=[f"{k}={_text(v)}" for k, v in cell.method.params.items()],
        suites=[suite.name],
        tasks=list(suite.tasks),
        suite_sets=[
            f"{suite.name}.{k}={_text(v)}" for k, v in suite.params.items() if k not in typed
        ],
        limit=typed.get("limit"),
        seq_len=typed.get("seq_len"),
        batch_size=typed.get("batch_size"),
        device=cell.model.device or grid.device,
        dtype=cell.model.dtype or grid.dtype,
        revision=cell.model.revision,
        trust_remote_code=cell.model.trust_remote_code,
        seed=grid.seed,
        calib_source=grid.calib_source,
        log_samples=bool(typed.get("log_samples", False)),
    ).to_spec()
