"""Which results may share a row: the evaluation identity of a run's suites (pure, no pandas).

A leaderboard row (and a ``skipbench results --latest`` line) is one *subject* (model id +
weights hash + dtype; method name + its full config + seed + the calibration record + the
layers or sublayers it removed or made selective) measured
under one *evaluation* per suite. A suite's evaluation is the run's stored suite config
(``runs.suites[name]``: limit, seq_len, batch_size, window, the throughput grid, warm-up and
repeats, ...) without the fields that change which numbers are stored but not their values
(``tasks``, ``log_samples``, ``data_source``, ``baseline``), plus the sha256 of the data files
that suite read (``runs.data_files``) and, for speed suites, the device. Provenance (library
versions, host) is deliberately not part of it: it would split every row.

Rows merge the suites of every succeeded run of one subject whose evaluations agree: two runs
join when every suite both measured has equal settings and no data file with a different hash.
Runs are taken newest first; a run joins the newest compatible row, a full run (no ``limit`` on
any suite) never joins a partial one (a smoke test such as ``--limit 1`` stays its own row).
A row lacking a suite then shows the subject's newest evaluation of it from a row of the same
kind (full or partial), so the CPU and the GPU speed rows of a model both carry its quality.
Within a row, when two runs stored the same (suite, task, metric), the newest run wins. The
seeds of a seed-pooled method (``SEED_POOLED_METHODS``: ``random``) are one subject: its row
keeps the newest value per seed, and ``pool_seeds`` reports their mean and spread.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# method_details fields that say which layers or sublayers a method removed or made selective
STRUCTURE_KEYS = ("removed_layers", "removed_sublayers", "selective_layers")
# suite config fields that select what is stored, not how it is measured
NOT_IDENTITY = frozenset({"tasks", "log_samples", "data_source", "baseline"})
# data files each known suite reads (path prefixes under <shared>/data, or hub: archives)
DATA_PREFIXES: dict[str, tuple[str, ...]] = {
    "perplexity": ("wikitext2/", "c4/"),
    "zeroshot": ("zeroshot/",),
    "longbench": ("longbench", "hub:THUDM/LongBench"),
}
SPEED_SUITES = ("throughput",)  # timed: the device is part of the evaluation
# methods whose config ``seed`` only draws a sample of the method (``random``): their seeds
# share one row, each metric the mean over seeds (newest run per seed) with its spread
SEED_POOLED_METHODS = frozenset({"random"})


def _get(run: Any, name: str, default: Any = None) -> Any:
    """A field of a run given as a mapping (db.queries rows) or an object (db.models.Run)."""
    value = run.get(name, default) if isinstance(run, Mapping) else getattr(run, name, default)
    if isinstance(value, float) and value != value:  # NaN from a pandas frame
        return default
    return default if value is None else value


def canonical(value: Any) -> str:
    """A stable text for a JSON value (key order and tuple/list differences removed)."""
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def suite_family(suite: str) -> str:
    """``longbench-mini`` and ``throughput_x`` behave like ``longbench`` / ``throughput``."""
    for known in (*DATA_PREFIXES, *SPEED_SUITES):
        if suite == known or suite.startswith((known + "-", known + "_")):
            return known
    return suite


def is_speed_suite(suite: str) -> bool:
    return suite_family(suite) in SPEED_SUITES


@dataclass(frozen=True)
class Subject:
    """What was evaluated: the same subject means the same model and the same method applied."""

    model_id: str
    model_hash: str
    model_dtype: str
    method_name: str
    method_config: str  # canonical JSON
    seed: int
    calibration: str  # canonical JSON of method_details["calibration"] ("" without one)
    structure: str = ""  # canonical JSON of what the method removed or made selective

    @property
    def model(self) -> tuple[str, str, str]:
        """The model part alone (a dense baseline must match it)."""
        return (self.model_id, self.model_hash, self.model_dtype)


@dataclass(frozen=True)
class SuiteEvaluation:
    """How one suite was measured: settings that must be equal, data files that must agree."""

    suite: str
    settings: tuple[tuple[str, str], ...]  # (field, canonical JSON value), sorted
    files: tuple[tuple[str, str], ...] = ()  # (path, sha256), sorted

    def matches(self, other: SuiteEvaluation) -> bool:
        """Same suite and settings, and no data file both read with a different hash."""
        if (self.suite, self.settings) != (other.suite, other.settings):
            return False
        theirs = dict(other.files)
        return all(theirs.get(path, digest) == digest for path, digest in self.files)

    @property
    def partial(self) -> bool:
        """A ``limit`` was set: a subset of the data (smoke tests, quick looks)."""
        return dict(self.settings).get("limit", "null") != "null"

    def describe(self) -> str:
        """``limit=1, seq_len=256`` (device last); ``defaults`` when nothing is stored."""
        parts = [f"{k}={json.loads(v)}" for k, v in self.settings if k != "device"]
        parts += [f"device={json.loads(v)}" for k, v in self.settings if k == "device"]
        return ", ".join(parts) or "defaults"


def method_seed(run: Any) -> Any:
    """The config seed of a seed-pooled method's run (``SEED_POOLED_METHODS``), else None."""
    if str(_get(run, "method_name", "")) not in SEED_POOLED_METHODS:
        return None
    config = _get(run, "method_config", {})
    return config.get("seed", 0) if isinstance(config, Mapping) else None


def structure(details: Any) -> str:
    """What a method did to the model (``STRUCTURE_KEYS`` of its details), canonical JSON.

    Part of the subject: a criterion whose candidates score nearly alike can pick different
    layers on another device or dtype (Shortened LLaMA's perplexity criterion on SmolLM2 at 20%
    took layer 13 on an H200 and layer 18 on a CPU, 0.05 apart): the same config then names two
    different pruned models, whose results must not share a row."""
    if not isinstance(details, Mapping):
        return ""
    found = {
        k: sorted(details[k]) for k in STRUCTURE_KEYS if isinstance(details.get(k), list | tuple)
    }
    return canonical(found) if found else ""


def subject(run: Any) -> Subject:
    details = _get(run, "method_details", {})
    calibration = details.get("calibration") if isinstance(details, Mapping) else None
    config = _get(run, "method_config", {})
    pooled = method_seed(run) is not None
    if pooled:  # the seeds of a pooled method are one subject (each seed its own layers)
        config = {k: v for k, v in config.items() if k != "seed"}
    return Subject(
        model_id=str(_get(run, "model_id", "")),
        model_hash=str(_get(run, "model_hash", "")),
        model_dtype=str(_get(run, "model_dtype", "")),
        method_name=str(_get(run, "method_name", "")),
        method_config=canonical(config),
        seed=int(_get(run, "seed", 0)),
        calibration=canonical(calibration) if calibration else "",
        structure="" if pooled else structure(details),
    )


def suite_files(data_files: Mapping[str, str], suite: str) -> dict[str, str]:
    """The data files of ``data_files`` that ``suite`` reads (all of them for unknown suites)."""
    prefixes = DATA_PREFIXES.get(suite_family(suite))
    if prefixes is None:
        claimed = tuple(p for ps in DATA_PREFIXES.values() for p in ps)
        return {p: h for p, h in data_files.items() if not p.startswith(claimed)}
    return {p: h for p, h in data_files.items() if p.startswith(prefixes)}


def suite_evaluation(run: Any, suite: str) -> SuiteEvaluation:
    """The evaluation identity of ``suite`` in ``run`` (see the module docstring)."""
    configs = _get(run, "suites", {})
    config = configs.get(suite) if isinstance(configs, Mapping) else None
    settings = {k: canonical(v) for k, v in (config or {}).items() if k not in NOT_IDENTITY}
    if is_speed_suite(suite):
        settings["device"] = canonical(_get(run, "device", ""))
    files = suite_files(_get(run, "data_files", {}) or {}, suite)
    return SuiteEvaluation(suite, tuple(sorted(settings.items())), tuple(sorted(files.items())))


@dataclass
class MergedRow:
    """One subject under one evaluation per suite; ``sources[suite]`` lists run ids newest first.

    ``anchor`` is the newest run placed in the row itself (unique to the row: it names the row);
    ``shared`` names the suites filled in from another row of the same subject."""

    subject: Subject
    evaluations: dict[str, SuiteEvaluation] = field(default_factory=dict)
    sources: dict[str, list[int]] = field(default_factory=dict)
    anchor: int = 0
    shared: set[str] = field(default_factory=set)
    seeds: dict[int, Any] = field(default_factory=dict)  # run id -> config seed (pooled only)

    @property
    def run_ids(self) -> list[int]:
        """Every run whose results the row shows, newest first."""
        return sorted({i for ids in self.sources.values() for i in ids}, reverse=True)

    @property
    def partial(self) -> bool:
        return any(e.partial for e in self.evaluations.values())

    def accepts(self, run_subject: Subject, evaluations: Mapping[str, SuiteEvaluation]) -> bool:
        if run_subject != self.subject:
            return False
        if any(e.partial for e in evaluations.values()) != self.partial:
            return False
        return all(
            ev.matches(self.evaluations[s])
            for s, ev in evaluations.items()
            if s in self.evaluations
        )

    def add(self, run_id: int, evaluations: Mapping[str, SuiteEvaluation]) -> None:
        self.anchor = self.anchor or run_id  # runs arrive newest first
        for suite, ev in evaluations.items():
            mine = self.evaluations.get(suite)
            if mine is None:
                self.evaluations[suite] = ev
            else:  # the union of data files read, so later runs are checked against all
                files = dict(ev.files) | dict(mine.files)
                self.evaluations[suite] = SuiteEvaluation(
                    suite, mine.settings, tuple(sorted(files.items()))
                )
            self.sources.setdefault(suite, []).append(run_id)


def merge_runs(runs: Iterable[Any], suites_of: Mapping[int, Iterable[str]]) -> list[MergedRow]:
    """Group succeeded ``runs`` into rows; ``suites_of[run id]`` names the suites that run stored
    results for (a run with none joins no row). Rows come out oldest anchor first.

    Runs are placed newest first: a run joins the newest row of its subject that accepts it
    (same full/partial kind, equal evaluations on every suite both have), else starts a row.
    Then a row lacking a suite takes it from the newest row of the same subject and kind that
    measured it (so a model's CPU and GPU speed rows both show its quality); existing suites
    are never replaced, so two rows always differ in at least one suite's evaluation."""
    ordered_runs = sorted(
        (r for r in runs if _get(r, "status") == "succeeded"),
        key=lambda r: int(_get(r, "id")),
        reverse=True,
    )
    rows: list[MergedRow] = []  # newest anchor first while building
    for run in ordered_runs:
        run_id = int(_get(run, "id"))
        suites = sorted(set(suites_of.get(run_id, ())))
        if not suites:
            continue
        who = subject(run)
        evaluations = {s: suite_evaluation(run, s) for s in suites}
        row = next((r for r in rows if r.accepts(who, evaluations)), None)
        if row is None:
            row = MergedRow(who)
            rows.append(row)
        row.add(run_id, evaluations)
        if method_seed(run) is not None:
            row.seeds[run_id] = method_seed(run)
    native = [(dict(r.evaluations), {s: list(ids) for s, ids in r.sources.items()}) for r in rows]
    for row in rows:
        for donor, (evaluations, sources) in zip(rows, native):
            if donor is row or (donor.subject, donor.partial) != (row.subject, row.partial):
                continue
            for suite in sorted(set(evaluations) - set(row.evaluations)):
                row.evaluations[suite] = evaluations[suite]
                row.sources[suite] = list(sources[suite])
                row.shared.add(suite)
                row.seeds.update({i: donor.seeds[i] for i in sources[suite] if i in donor.seeds})
    return sorted(rows, key=lambda r: r.anchor)


def pick_results(row: MergedRow, results: Iterable[Any]) -> list[Any]:
    """The results of ``row``: per (suite, task, metric) the one from the newest run that has it
    among the runs merged for that suite (results of other runs or suites are ignored)."""
    rank = {(s, i): n for s, ids in row.sources.items() for n, i in enumerate(ids)}
    best: dict[tuple[str, str, str, Any], tuple[int, Any]] = {}
    for r in results:
        run_id = int(_get(r, "run_id"))
        place = rank.get((_get(r, "suite"), run_id))
        if place is None:
            continue
        # a seed-pooled row keeps the newest value of every seed
        key = (_get(r, "suite"), _get(r, "task"), _get(r, "metric"), row.seeds.get(run_id))
        if key not in best or place < best[key][0]:
            best[key] = (place, r)
    return [r for _, r in best.values()]


def pool_seeds(row: MergedRow, picked: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``pick_results`` of a seed-pooled row as one result per metric: ``value`` the mean over
    seeds, ``spread`` the sample standard deviation (0 for one seed), ``seed_values`` {seed:
    value}; the other fields from the newest run. Rows of other methods pass unchanged."""
    if not row.seeds:
        return [dict(r) for r in picked]
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for r in picked:
        groups.setdefault((r["suite"], r["task"], r["metric"]), []).append(r)
    pooled = []
    for rs in groups.values():
        rs = sorted(rs, key=lambda r: int(r["run_id"]), reverse=True)
        values = [float(r["value"]) for r in rs]
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
        seeds = {row.seeds.get(int(r["run_id"])): v for r, v in zip(rs, values)}
        pooled.append({**rs[0], "value": mean, "spread": var**0.5, "seed_values": seeds})
    return pooled


def dense_match(
    rows: Sequence[MergedRow], model: tuple[str, str, str], evaluation: SuiteEvaluation
) -> MergedRow | None:
    """The newest dense row of ``model`` (``Subject.model``) whose suite was measured as
    ``evaluation`` was, or None: "relative to dense" only compares like with like."""
    for row in sorted(rows, key=lambda r: r.anchor, reverse=True):
        if row.subject.method_name != "dense" or row.subject.model != model:
            continue
        theirs = row.evaluations.get(evaluation.suite)
        if theirs is not None and theirs.matches(evaluation):
            return row
    return None
