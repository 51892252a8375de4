"""What a result row needs to be reproducible: versions, git sha, source digest, device(s)
and device map."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import skipbench
from skipbench.settings import get_settings

_REPO = Path(__file__).resolve().parent.parent


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(_REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        if out.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(_REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def commit_facts() -> dict[str, str | None]:
    """``git_sha`` as git reports it; in a copy of the tree without git metadata (a device machine
    fed the working tree) it is null, and the commit the copy came from, as the user declared it
    (``SKIPBENCH_SOURCE_COMMIT``), goes under its own key: git never checked it, and
    ``source_sha256`` is what shows whether the code was that commit's."""
    sha = git_sha()
    declared = get_settings().source_commit
    if sha is None and declared:
        return {"git_sha": None, "git_sha_declared": declared}
    return {"git_sha": sha}


# the packages whose code and data files decide a result (the leaderboard only displays them)
SOURCE_PACKAGES = ("skipbench", "harness", "methods", "db", "workers", "cli")
SOURCE_SUFFIXES = (".py", ".json", ".yaml", ".yml")


@lru_cache(maxsize=4)
def source_sha256(root: Path = _REPO) -> str:
    """sha256 of the code that ran: per file of ``SOURCE_PACKAGES`` (sorted relative paths,
    ``SOURCE_SUFFIXES``), a line ``path NUL sha256(bytes)``.

    ``git_sha`` names a commit, and ``-dirty`` says only that the tree differed from it; a copy
    of the tree without its own git metadata (a device machine fed the working tree) records the
    commit it came from. The digest tells two such runs' code apart, or shows it was the same.
    """
    lines = []
    for package in SOURCE_PACKAGES:
        base = root / package
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if (
                path.suffix in SOURCE_SUFFIXES
                and path.is_file()
                and "__pycache__" not in path.parts
            ):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                lines.append(f"{path.relative_to(root).as_posix()}\0{digest}\n")
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


def device_name(device: Any) -> str:
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"cpu: {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def gpu_facts() -> dict[str, Any]:
    """Driver, CUDA, clocks where readable (nvidia-smi); empty without a GPU."""
    import torch

    if not torch.cuda.is_available():
        return {}
    count = torch.cuda.device_count()
    facts: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(0),
        "cuda": torch.version.cuda,
        "gpu_count": count,
        "gpus": [torch.cuda.get_device_name(i) for i in range(count)],  # every visible GPU
    }
    try:
        out = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=driver_version,clocks.sm,clocks.max.sm,clocks.mem",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if out.returncode == 0 and out.stdout.strip():
            driver, sm, sm_max, mem = (x.strip() for x in out.stdout.splitlines()[0].split(","))
            facts.update(driver=driver, sm_clock=sm, sm_clock_max=sm_max, mem_clock=mem)
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    return facts


def placement_facts(model: Any) -> dict[str, Any]:
    """Where a model spread over several devices lives: accelerate's device map (consecutive
    modules on one device merged) and the devices it uses; empty for a model on one device."""
    from harness import placement

    mapping = placement.summary(model)
    if not mapping:
        return {}
    return {"device_map": mapping, "devices": sorted(set(mapping.values()))}


def collect(device: Any, model: Any = None) -> dict[str, Any]:
    """Versions, host and device facts; with ``model``, also its device map if it has one."""
    import torch

    return {
        "skipbench": skipbench.__version__,
        **commit_facts(),
        "source_sha256": source_sha256(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": _version("transformers"),
        "lm_eval": _version("lm_eval") or _version("lm-eval"),
        "platform": platform.platform(),
        "host": platform.node(),
        "device_name": device_name(device),
        **gpu_facts(),
        **(placement_facts(model) if model is not None else {}),
    }
