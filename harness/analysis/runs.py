"""Run a diagnostic on a model and store it like an evaluation run.

A diagnostic run is a ``dense`` run of the suite ``analysis``: the curves go into an artifact
(the leaderboard plots it); there are no result rows, because a diagnostic has no better
direction and must not show up as a score. It sits in the same store, with the same
provenance, as every benchmark run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.analysis.sink import ARTIFACT_VERSION, depth_summary, sink_curves
from harness.data import DataSource, eval_text
from harness.models import ModelSpec, load_model
from harness.run_record import RecordedRun, new_record
from harness.tokens import tokenize_text, windows
from skipbench.errors import InvalidInput

if TYPE_CHECKING:
    from db.store import Store

SUITE = "analysis"
SINK_TASKS = ("wikitext2", "c4")


def analyze_sink(
    model: ModelSpec,
    task: str = "wikitext2",
    limit: int | None = None,
    seq_len: int = 2048,
    batch_size: int = 1,
    store: Store | None = None,
    progress: Any = None,
    data_source: DataSource = "auto",
) -> dict[str, Any]:
    """Compute the sink curves on ``task``'s first ``limit`` windows; store them if ``store``."""
    if task not in SINK_TASKS:
        raise InvalidInput(
            f"unknown task {task!r} for sink analysis; allowed: {', '.join(SINK_TASKS)}"
        )
    if limit is not None and limit < 1:
        raise InvalidInput(f"limit={limit} must be >= 1")
    if seq_len < 2:
        raise InvalidInput(f"seq_len={seq_len} must be >= 2")
    if batch_size < 1:
        raise InvalidInput(f"batch_size={batch_size} must be >= 1")
    data = eval_text(task, data_source)
    lm = load_model(model)
    if lm.info.get("random_weights"):
        raise InvalidInput(
            f"model {model.source!r} has random weights; sink analysis needs real weights"
        )
    ids = tokenize_text(lm.tokenizer, data.text)
    if data.max_windows is not None:
        limit = min(limit or data.max_windows, data.max_windows)
    wins = windows(ids, seq_len, limit)
    config = {"task": task, "limit": limit, "seq_len": seq_len, "batch_size": batch_size}
    record = new_record(
        lm,
        method_name="dense",
        method_config={},
        method_details={"sparsity": {"nominal": 0.0, "realized": 0.0}},
        sparsity=0.0,
        suites={SUITE: {"analysis": "sink", **config}},
        seed=0,
    )
    run = RecordedRun.open(record, store)
    with run.failed_on_error():
        curves = sink_curves(lm.model, wins, batch_size=batch_size, progress=progress)
        payload = {
            "version": ARTIFACT_VERSION,
            "analysis": "sink",
            "model": lm.info["display"],
            "task": data.name,
            "data_label": data.label,
            "seq_len": seq_len,
            "sink_position": 0,
            "normalization": "each layer's input RMSNorm, learned weight included",
            **curves,
        }
        payload["summary"] = depth_summary(curves)
        run.add_suite(SUITE, [], {"sink": payload}, data.files)
    run.finish("succeeded")
    return {"run_id": record.id, "sink": payload}
