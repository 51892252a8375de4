"""Random-weight models from shipped architecture configs (``--model config:<name>``).

Speed depends on the architecture, not on the weights, so a throughput run needs no download:
the config JSON in ``harness/model_configs/`` (the published values of each model's
``config.json``) is built with randomly initialised weights directly on the target device.
Such models are labelled ``random_weights: True`` and the runner refuses quality suites on them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from harness.model_spec import LoadedModel, ModelSpec, ResolvedSource
from skipbench.errors import InvalidInput

CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
PREFIX = "config:"


def available_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def config_name(source: str) -> str:
    """``config:llama-2-7b`` -> ``llama-2-7b``; unknown names are an ``InvalidInput``."""
    name = source.removeprefix(PREFIX).strip()
    known = available_configs()
    if name not in known:
        raise InvalidInput(
            f"model {source!r}: unknown config {name!r}; allowed: {', '.join(known)}"
        )
    return name


def config_path(name: str) -> Path:
    return CONFIG_DIR / f"{config_name(name)}.json"


def config_dict(name: str) -> dict[str, Any]:
    """The shipped values without the bookkeeping keys (those starting with ``_``)."""
    raw = json.loads(config_path(name).read_text())
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def load_config(name: str, **overrides: Any) -> Any:
    """A transformers config for ``name``; ``overrides`` replace shipped values (tests shrink models)."""
    from transformers import AutoConfig

    values = {**config_dict(name), **overrides}
    return AutoConfig.for_model(**values)


def build_model(config: Any, device: str = "cpu", dtype: Any = None, seed: int = 0) -> Any:
    """Instantiate ``config`` with random weights on ``device`` (no CPU detour for GPU models)."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = dtype or torch.float32
    torch.manual_seed(seed)
    if str(device).startswith("cuda"):
        torch.cuda.manual_seed_all(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return model.eval()


class ByteTokenizer:
    """UTF-8 bytes as token ids (offset 3 past pad/bos/eos), so calibration text can be encoded.

    Random-weight models come with no tokenizer; this keeps code paths that tokenize working.
    """

    offset = 3

    def __init__(self, vocab_size: int) -> None:
        if vocab_size < 256 + self.offset:
            raise InvalidInput(
                f"vocab_size={vocab_size} is too small for byte tokens (needs >= 259)"
            )
        self.vocab_size = vocab_size
        self.pad_token_id, self.bos_token_id, self.eos_token_id = 0, 1, 2

    def encode(self, text: str) -> list[int]:
        return [self.bos_token_id] + [b + self.offset for b in text.encode("utf-8")]

    def decode(self, ids: Any) -> str:
        data = bytes(int(i) - self.offset for i in ids if self.offset <= int(i) < 256 + self.offset)
        return data.decode("utf-8", errors="replace")

    def __call__(self, text: str, return_tensors: str | None = None) -> Any:
        from types import SimpleNamespace

        ids = self.encode(text)
        if return_tensors == "pt":
            import torch

            return SimpleNamespace(input_ids=torch.tensor([ids], dtype=torch.long))
        return SimpleNamespace(input_ids=ids)


def load_random(
    spec: ModelSpec,
    resolved: ResolvedSource,
    device: str,
    dtype: Any,
    seed: int = 0,
    **overrides: Any,
) -> LoadedModel:
    """Build ``resolved.location`` (a config name) as a ``LoadedModel`` with random weights."""
    from methods.layers import decoder_layers

    name = resolved.location
    config = load_config(name, **overrides)
    model = build_model(config, device, dtype, seed)
    layers = decoder_layers(model)
    info = {
        "model_type": config.model_type,
        "num_layers": len(layers),
        "params": sum(p.numel() for p in model.parameters()),
        "source_kind": "random",
        "location": str(config_path(name)),
        "hash": hashlib.sha256(config_path(name).read_bytes()).hexdigest(),
        "revision": None,
        "display": resolved.display,
        "device": device,
        "dtype": str(dtype).removeprefix("torch."),
        "random_weights": True,
        "seed": seed,
    }
    return LoadedModel(model, ByteTokenizer(config.vocab_size), spec, info)
