"""Evaluation and calibration text, from local files (``<shared_dir>/data``) or the hub.

Every loader returns the text together with where it came from and the sha256 of each local
file, so results can record exactly what they were computed on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from skipbench.errors import InvalidInput
from skipbench.settings import get_settings

DataSource = Literal["auto", "local", "hub"]

# Papers' C4 protocol (GPTQ, SLEB, OrthoRank): the first 1,100 validation documents, joined
# with a space, at most 256 windows. Calibration uses documents after these.
C4_EVAL_DOCS = 1100
C4_EVAL_MAX_WINDOWS = 256


@dataclass(frozen=True)
class TextData:
    name: str  # stored task name, e.g. "wikitext2", "c4" (hub) or "c4_2k" (local subset)
    label: str  # human-readable description
    text: str = field(repr=False)
    origin: str  # "local" or "hub:<dataset id>"
    files: dict[str, str] = field(default_factory=dict)  # path under <shared_dir>/data -> sha256
    max_windows: int | None = None  # protocol cap on windows (C4: 256)


def sha256_file(path: str) -> str:
    """sha256 of the file; cached while its size and modification time stay the same (a file
    replaced in place is hashed again, so a resumed run sees the new weights or data)."""
    st = Path(path).stat()
    return _sha256_of_version(str(path), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256_of_version(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def local_path(relative: str) -> Path:
    return get_settings().data_dir / relative


def _use_local(relative: str, source: DataSource) -> bool:
    exists = local_path(relative).is_file()
    if source == "local" and not exists:
        raise InvalidInput(
            f"local data file {local_path(relative)} not found; set SKIPBENCH_SHARED_DIR to the folder holding data/"
        )
    if source == "hub" and get_settings().offline:
        raise InvalidInput("data source 'hub' is not allowed with SKIPBENCH_OFFLINE=1")
    return source == "local" or (source == "auto" and exists)


def _hub_dataset(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
    import datasets

    return datasets.load_dataset(*args, **kwargs)


def wikitext2_test(source: DataSource = "auto") -> TextData:
    rel = "wikitext2/test.jsonl"
    if _use_local(rel, source):
        path = local_path(rel)
        rows = read_jsonl(path)
        return TextData(
            "wikitext2",
            "WikiText-2 raw test, rows joined with \\n\\n",
            "\n\n".join(r["text"] for r in rows),
            "local",
            {rel: sha256_file(str(path))},
        )
    ds = _hub_dataset("wikitext", "wikitext-2-raw-v1", split="test")
    return TextData(
        "wikitext2",
        "WikiText-2 raw test, rows joined with \\n\\n",
        "\n\n".join(ds["text"]),
        f"hub:wikitext/wikitext-2-raw-v1@{ds._fingerprint}",
    )


def _c4_local_docs() -> tuple[list[str], Path]:
    path = local_path("c4/validation_2k.jsonl")
    return [r["text"] for r in read_jsonl(path)], path


def c4_validation(source: DataSource = "auto") -> TextData:
    rel = "c4/validation_2k.jsonl"
    if _use_local(rel, source):
        docs, path = _c4_local_docs()
        return TextData(
            "c4_2k",
            f"C4 (2k-document subset): first {C4_EVAL_DOCS} documents joined with ' '",
            " ".join(docs[:C4_EVAL_DOCS]),
            "local",
            {rel: sha256_file(str(path))},
            max_windows=C4_EVAL_MAX_WINDOWS,
        )
    ds = _hub_dataset(
        "allenai/c4",
        data_files={"validation": "en/c4-validation.00000-of-00008.json.gz"},
        split="validation",
    )
    return TextData(
        "c4",
        f"C4 en validation shard 0: first {C4_EVAL_DOCS} documents joined with ' '",
        " ".join(ds[:C4_EVAL_DOCS]["text"]),
        f"hub:allenai/c4@{ds._fingerprint}",
        max_windows=C4_EVAL_MAX_WINDOWS,
    )


EVAL_TEXTS = {"wikitext2": wikitext2_test, "c4": c4_validation}


def eval_text(task: str, source: DataSource = "auto") -> TextData:
    if task not in EVAL_TEXTS:
        raise InvalidInput(f"unknown perplexity task {task!r}; allowed: {', '.join(EVAL_TEXTS)}")
    return EVAL_TEXTS[task](source)


@dataclass(frozen=True)
class CalibrationDocuments:
    """Calibration documents kept apart (for the ``rows`` unit and PG19's per-book windows)."""

    name: str
    label: str
    docs: tuple[str, ...] = field(repr=False)
    joiner: (
        str  # how the official code joins the documents it draws (SLEB: C4 " ", WikiText "\\n\\n")
    )
    origin: str
    files: dict[str, str] = field(default_factory=dict)


CALIBRATION_DATASETS = ("c4", "wikitext2", "pg19")


def _wikitext2_train_rows() -> tuple[tuple[str, ...], str]:
    """The WikiText-2 raw train rows (hub only) and their origin."""
    ds = _hub_dataset("wikitext", "wikitext-2-raw-v1", split="train")
    return tuple(ds["text"]), f"hub:wikitext/wikitext-2-raw-v1@{ds._fingerprint}"


def calibration_documents(dataset: str, source: DataSource = "auto") -> CalibrationDocuments:
    """The documents (rows, books) behind ``calibration_text``, for protocols that draw whole ones.

    ``c4``: the same documents as ``calibration_text("c4")`` (offline: 1,100-1,999), joined
    with " " as SLEB's C4 loader does. ``wikitext2``: the train rows (hub), joined with
    ``\\n\\n``. ``pg19``: the PG19 validation books (hub only: ShortGPT's calibration).
    """
    if dataset == "c4":
        rel = "c4/validation_2k.jsonl"
        if _use_local(rel, source):
            docs, path = _c4_local_docs()
            return CalibrationDocuments(
                "c4_calib",
                f"C4 (2k-document subset) documents {C4_EVAL_DOCS}-{len(docs) - 1}",
                tuple(docs[C4_EVAL_DOCS:]),
                " ",
                "local",
                {rel: sha256_file(str(path))},
            )
        ds = _hub_dataset(
            "allenai/c4", data_files={"train": "en/c4-train.00000-of-01024.json.gz"}, split="train"
        )
        return CalibrationDocuments(
            "c4_calib",
            "C4 en train shard 0 (first 5,000 documents)",
            tuple(ds[:5000]["text"]),
            " ",
            f"hub:allenai/c4@{ds._fingerprint}",
        )
    if dataset in ("wikitext2", "pg19"):
        if source == "local" or get_settings().offline:
            raise InvalidInput(
                f"calib_dataset={dataset} comes from the hub, not available offline or with "
                "--calib-source local; use calib_dataset=c4"
            )
        if dataset == "wikitext2":
            rows, origin = _wikitext2_train_rows()
            return CalibrationDocuments(
                "wikitext2_train", "WikiText-2 raw train rows", rows, "\n\n", origin
            )
        ds = _hub_dataset("emozilla/pg19", split="validation")
        return CalibrationDocuments(
            "pg19_validation",
            "PG19 validation books",
            tuple(ds["text"]),
            "",
            f"hub:emozilla/pg19@{ds._fingerprint}",
        )
    raise InvalidInput(
        f"unknown calibration dataset {dataset!r}; allowed: {', '.join(CALIBRATION_DATASETS)}"
    )


def calibration_text(dataset: str, source: DataSource = "auto") -> TextData:
    """Calibration text that the evaluation never sees.

    ``c4``: C4 validation documents after the first 1,100 (local 2k subset: documents
    1,100-1,999), joined with ``\\n\\n``. ``wikitext2``: the WikiText-2 *train* split (hub only).
    """
    if dataset == "c4":  # calibration_documents("c4"), joined with \n\n
        docs = calibration_documents("c4", source)
        joined = ", joined with \\n\\n" if docs.origin == "local" else ""
        return TextData(
            docs.name, docs.label + joined, "\n\n".join(docs.docs), docs.origin, docs.files
        )
    if dataset == "wikitext2":
        if source == "local":
            raise InvalidInput("wikitext2 train is not available locally; use calib_dataset=c4")
        rows, origin = _wikitext2_train_rows()
        return TextData(
            "wikitext2_train",
            "WikiText-2 raw train, rows joined with \\n\\n",
            "\n\n".join(rows),
            origin,
        )
    if dataset == "pg19":
        raise InvalidInput("calib_dataset=pg19 is cut per book; only shortgpt reads it")
    raise InvalidInput(
        f"unknown calibration dataset {dataset!r}; allowed: {', '.join(CALIBRATION_DATASETS)}"
    )
