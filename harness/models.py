"""Model loading: a hub id, a local HF folder, a GGUF file, or a catalog name.

``ModelSpec`` is what a run records; ``load_model`` returns the model, its tokenizer and the
facts the store needs (parameter count, hash of the weight files, layer count).
"""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path
from typing import Any

from harness import catalog, placement, random_models
from harness.model_spec import Device, DType, LoadedModel, ModelSpec, ResolvedSource
from skipbench.errors import InvalidInput

__all__ = [
    "DType",
    "Device",
    "LoadedModel",
    "ModelSpec",
    "ResolvedSource",
    "load_model",
    "resolve_source",
    "same_weights_copy",
    "weight_versions",
    "weights_untouched",
]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
HUB_ID_MAX = 96  # the hub's limit on a repository id


def shown(source: str, limit: int = 120) -> str:
    """``source`` as an error message quotes it: a very long one cut, with its length."""
    if len(source) <= limit:
        return repr(source)
    return f"{source[:limit]!r}... ({len(source)} characters)"


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInput(f"device={device!r} but CUDA is not available here; use cpu or auto")
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def resolve_source(source: str) -> ResolvedSource:
    """Decide what ``source`` names, without loading anything."""
    if source.startswith(random_models.PREFIX):
        return ResolvedSource("random", random_models.config_name(source), source)
    try:
        return _resolve_path_or_name(source)
    except OSError as exc:  # e.g. a name too long for a path: "File name too long"
        raise InvalidInput(
            f"model {shown(source)}: {exc.strerror or exc}; expected an existing folder or .gguf "
            f"file, a catalog name, a config:<name>, or a hub id like org/name "
            f"(at most {HUB_ID_MAX} characters)"
        ) from None


def _resolve_path_or_name(source: str) -> ResolvedSource:
    path = Path(source).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise InvalidInput(f"model file {source!r} does not exist")
        return ResolvedSource("gguf", str(path.resolve()), source)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InvalidInput(f"model folder {source!r} has no config.json")
        return ResolvedSource("folder", str(path.resolve()), _folder_display(path))
    if source in catalog.CATALOG:
        folder = catalog.cached_folder(source)
        if folder is None:
            raise InvalidInput(
                f"catalog model {source!r} is not fetched yet; run: skipbench models fetch {source}"
            )
        return ResolvedSource("folder", str(folder), source)
    if (
        "/" in source
        and not source.startswith((".", "/", "~"))
        and len(source) <= HUB_ID_MAX
        and _HUB_ID.match(source)
    ):
        return ResolvedSource("hub", source, source)
    raise InvalidInput(
        f"model {shown(source)} is not an existing folder or .gguf file, a catalog name "
        f"({', '.join(catalog.CATALOG)}), a config:<name>, or a hub id like org/name"
    )


def _folder_display(path: Path) -> str:
    """Catalog folders record their catalog name; other folders their absolute path."""
    name = catalog.name_of_folder(path)
    return name or str(path.resolve())


def load_model(spec: ModelSpec) -> LoadedModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from methods.layers import decoder_layers

    hf_logging.disable_progress_bar()  # our own progress bars show the steps that take time
    resolved = resolve_source(spec.source)
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    spread = placement.current()
    spread = spread if spread is not None and spread.spread and device == "cuda" else None
    if resolved.kind == "random":
        if spread is not None:  # built on the CPU, then dispatched by accelerate
            lm = random_models.load_random(spec, resolved, "cpu", dtype)
            lm.model = placement.dispatch(lm.model, spread, dtype)
            lm.info["device"] = device
            return lm
        return random_models.load_random(spec, resolved, device, dtype)
    kwargs: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    location = resolved.location
    if resolved.kind == "gguf":
        kwargs["gguf_file"] = Path(location).name
        location = str(Path(location).parent)
    if resolved.kind == "hub" and spec.revision:
        kwargs["revision"] = spec.revision
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
        if spread is not None:  # accelerate's balanced map over the group's first GPUs
            kwargs.update(device_map="auto", max_memory=spread.max_memory())
        model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype, **kwargs)
    except unreadable_checkpoint_errors() as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        kind = "struct.error" if isinstance(exc, struct.error) else type(exc).__name__
        raise InvalidInput(
            f"cannot load model {shown(spec.source)}: {first} ({kind}); expected "
            "a Hugging Face checkpoint (config.json with model_type, complete weight files) or "
            "a complete .gguf file"
        ) from exc
    if spread is None:
        model.to(device)  # type: ignore[arg-type]  # transformers types its wrapped .to() oddly
    model.eval()
    layers = decoder_layers(model)  # fails clearly for unsupported architectures
    info = {
        "model_type": model.config.model_type,
        "num_layers": len(layers),
        "params": sum(p.numel() for p in model.parameters()),
        "source_kind": resolved.kind,
        "location": resolved.location,
        "hash": weights_hash(resolved),
        "revision": spec.revision or _commit_hash(model),
        "display": resolved.display,
        "device": device,
        "dtype": str(dtype).removeprefix("torch."),
        "random_weights": False,
    }
    torch.manual_seed(0)
    return LoadedModel(model, tokenizer, spec, info)


def unreadable_checkpoint_errors() -> tuple[type[BaseException], ...]:
    """What transformers raises for a checkpoint that is not one: missing or unreadable files
    (OSError), a config without ``model_type`` (ValueError), truncated or random safetensors
    (SafetensorError), a truncated GGUF (struct.error, EOFError)."""
    errors: list[type[BaseException]] = [OSError, ValueError, EOFError, struct.error]
    try:
        from safetensors import SafetensorError

        errors.append(SafetensorError)
    except ImportError:  # pragma: no cover - safetensors comes with transformers
        pass
    return tuple(errors)


def _commit_hash(model: Any) -> str | None:
    return getattr(model.config, "_commit_hash", None)


def weights_hash(resolved: ResolvedSource) -> str | None:
    """sha256 over the weight files (sorted by name) of a local model; None for hub models."""
    from harness.data import sha256_file

    if resolved.kind == "gguf":
        return sha256_file(resolved.location)
    if resolved.kind != "folder":
        return None
    files = sorted(Path(resolved.location).glob("*.safetensors")) or sorted(
        Path(resolved.location).glob("*.bin")
    )
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(sha256_file(str(f)).encode())
    return h.hexdigest()


def same_weights_copy(model: Any) -> Any:
    """A copy of ``model``'s modules that shares every parameter and buffer (no extra memory).

    Used to keep the unmodified model next to a method's for in-process comparisons; pair it
    with ``weights_untouched`` after the method ran.
    """
    import copy

    memo = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    return copy.deepcopy(model, memo)


def weight_versions(model: Any) -> dict[int, int]:
    """Each parameter's in-place modification counter, keyed by identity."""
    return {id(p): p._version for p in model.parameters()}


def weights_untouched(model: Any, versions: dict[int, int]) -> bool:
    """False when any parameter of ``model`` was modified in place since ``weight_versions``."""
    return all(versions.get(id(p)) == p._version for p in model.parameters())
