"""lm-eval task configs for the zero-shot suite, generated at run time.

Each task keeps lm-eval's built-in YAML (prompt, splits, ``!function`` hooks, metrics): the
generated YAML ``include``s it by absolute path. With local files under
``<data_dir>/zeroshot`` it overrides only where the data comes from (``dataset_path: json`` plus
``data_files``); without them it includes the built-in task unchanged, which reads the hub.
Nothing here hard-codes a machine path: the lm-eval install and the data folder are looked up
when the configs are written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skipbench.errors import InvalidInput


@dataclass(frozen=True)
class ZeroShotTask:
    name: str
    builtin_yaml: str  # relative to lm_eval/tasks
    local_files: dict[str, str]  # split -> path relative to <data_dir>
    overrides: dict[str, Any] = field(default_factory=dict)  # extra keys when reading local files
    note: str = ""


_Z = "zeroshot"
TASKS: dict[str, ZeroShotTask] = {
    t.name: t
    for t in (
        ZeroShotTask("piqa", "piqa/piqa.yaml", {"validation": f"{_Z}/piqa/validation.jsonl"}),
        ZeroShotTask(
            "hellaswag",
            "hellaswag/hellaswag.yaml",
            {"validation": f"{_Z}/hellaswag/validation.jsonl"},
        ),
        ZeroShotTask(
            "winogrande",
            "winogrande/default.yaml",
            {"validation": f"{_Z}/winogrande/validation.jsonl"},
        ),
        ZeroShotTask(
            "arc_easy",
            "arc/arc_easy.yaml",
            {"validation": f"{_Z}/arc_easy/validation.jsonl", "test": f"{_Z}/arc_easy/test.jsonl"},
        ),
        ZeroShotTask(
            "arc_challenge",
            "arc/arc_challenge.yaml",
            {
                "validation": f"{_Z}/arc_challenge/validation.jsonl",
                "test": f"{_Z}/arc_challenge/test.jsonl",
            },
        ),
        ZeroShotTask(
            "boolq", "super_glue/boolq/default.yaml", {"validation": f"{_Z}/boolq/validation.jsonl"}
        ),
        ZeroShotTask(
            "openbookqa",
            "openbookqa/openbookqa.yaml",
            {
                "validation": f"{_Z}/openbookqa/validation.jsonl",
                "test": f"{_Z}/openbookqa/test.jsonl",
            },
        ),
        # The local LAMBADA copy (OLMES) stores the passage as query + last word; these two
        # templates rebuild exactly the context/target split that lambada_openai's prompt makes.
        ZeroShotTask(
            "lambada_openai",
            "lambada/lambada_openai.yaml",
            {"test": f"{_Z}/lambada/test_olmes.jsonl"},
            overrides={"doc_to_text": "{{query}}", "doc_to_target": "{{' ' + answers_text[0]}}"},
            note="local copy is the OLMES LAMBADA file (query + answers_text), not EleutherAI/lambada_openai",
        ),
    )
}


@dataclass
class WrittenConfigs:
    folder: Path
    origins: dict[str, str]  # task -> "local" or "hub"
    data_files: dict[str, str]  # path relative to <data_dir> -> sha256
    yaml_text: dict[str, str]  # task -> the generated YAML


def lm_eval_tasks_dir() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent


def task_yaml(task: ZeroShotTask, data_dir: Path | None) -> dict[str, Any]:
    """The YAML mapping for ``task``; ``data_dir`` None means the hub (built-in task as is)."""
    config: dict[str, Any] = {
        "include": str(lm_eval_tasks_dir() / task.builtin_yaml),
        "task": task.name,
    }
    if data_dir is None:
        return config
    splits = task.local_files
    config.update(
        {
            "dataset_path": "json",
            "dataset_name": None,
            "dataset_kwargs": {"data_files": {s: str(data_dir / p) for s, p in splits.items()}},
            "training_split": None,
            "validation_split": "validation" if "validation" in splits else None,
            "test_split": "test" if "test" in splits else None,
            **task.overrides,
        }
    )
    return config


def use_local(task: ZeroShotTask, data_dir: Path, source: str) -> bool:
    present = all((data_dir / p).is_file() for p in task.local_files.values())
    if source == "local" and not present:
        missing = next(p for p in task.local_files.values() if not (data_dir / p).is_file())
        raise InvalidInput(
            f"local data file {data_dir / missing} not found; set SKIPBENCH_SHARED_DIR or use data_source=hub"
        )
    return source == "local" or (source == "auto" and present)


def write_configs(tasks: tuple[str, ...], folder: Path, source: str) -> WrittenConfigs:
    """Write one ``<task>.yaml`` per task into ``folder`` (a TaskManager include_path)."""
    import yaml

    from harness.data import sha256_file
    from skipbench.settings import get_settings

    settings = get_settings()
    data_dir = settings.data_dir
    if source == "hub" and settings.offline:
        raise InvalidInput("data_source=hub is not allowed with SKIPBENCH_OFFLINE=1")
    origins: dict[str, str] = {}
    files: dict[str, str] = {}
    texts: dict[str, str] = {}
    for name in tasks:
        task = TASKS[name]
        local = use_local(task, data_dir, source)
        if not local and settings.offline:
            raise InvalidInput(
                f"zero-shot task {name}: local files missing and SKIPBENCH_OFFLINE=1 forbids the hub"
            )
        config = task_yaml(task, data_dir if local else None)
        text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
        texts[name] = text
        origins[name] = "local" if local else "hub"
        if local:
            for rel in task.local_files.values():
                files[rel] = sha256_file(str(data_dir / rel))
    return WrittenConfigs(folder, origins, files, texts)
