"""The one accessor for decoder layers, keyed by ``config.model_type`` (never by model name).

Also the one place that removes layers, because a removal must keep three things consistent:
the ``ModuleList``, each attention module's ``layer_idx`` (it indexes the KV cache), and the
config's ``num_hidden_layers`` / ``layer_types`` (the cache and the masks are built from them).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from skipbench.errors import InvalidInput

# model_type -> attribute path from the *CausalLM (or multimodal wrapper) to the ModuleList
_LAYER_PATHS: dict[str, tuple[str, ...]] = {
    "llama": ("model", "layers"),
    "mistral": ("model", "layers"),
    "qwen2": ("model", "layers"),
    "qwen3": ("model", "layers"),
    "gemma3_text": ("model", "layers"),
    "gemma3": ("model", "language_model", "layers"),
}

SUPPORTED_MODEL_TYPES = tuple(_LAYER_PATHS)


def _model_type(model: Any) -> str:
    config = getattr(model, "config", None)
    return getattr(config, "model_type", None) or type(model).__name__


def decoder_layers(model: Any) -> Any:
    """The model's decoder layers (an ``nn.ModuleList``)."""
    model_type = _model_type(model)
    path = _LAYER_PATHS.get(model_type)
    if path is None:
        raise InvalidInput(
            f"unsupported architecture {model_type!r}; supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    obj = model
    for attr in path:
        obj = getattr(obj, attr)
    return obj


def num_decoder_layers(model: Any) -> int:
    return len(decoder_layers(model))


def layer_input(args: tuple, kwargs: dict) -> Any:
    """The hidden states a decoder layer's forward (pre-)hook sees entering it."""
    return args[0] if args else kwargs["hidden_states"]


def layer_output(output: Any) -> Any:
    """The hidden states in a decoder layer's output (a tuple in older transformers)."""
    return output[0] if isinstance(output, tuple) else output


def input_recorder(store: dict[int, Any], idx: int) -> Any:
    """A ``with_kwargs`` forward pre-hook that keeps layer ``idx``'s input in ``store[idx]``."""

    def hook(module: Any, args: tuple, kwargs: dict) -> None:
        store[idx] = layer_input(args, kwargs)

    return hook


def hooks_only_forward(model: Any, ids: Any) -> None:
    """A forward whose result only hooks read: the LM head runs on the last position alone.

    The decoder layers see exactly what a full forward gives them; only the logits of the other
    positions, which no statistic uses, are not computed (on Gemma 3 270M, with its 262k-token
    vocabulary, they are most of a forward's work).
    """
    kwargs: dict[str, Any] = {"use_cache": False}
    if keeps_logits(model):
        kwargs["logits_to_keep"] = 1
    model(input_ids=ids, **kwargs)


def keeps_logits(model: Any) -> bool:
    """Whether the model's forward takes ``logits_to_keep`` (computes logits of the last k only)."""
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def text_config(model: Any) -> Any:
    """The config that describes the decoder stack (the text config of multimodal models)."""
    config = model.config
    return config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config


def keep_layers(model: Any, keep: Sequence[int]) -> Any:
    """Keep only the decoder layers at ``keep`` (ascending original indices); returns ``model``."""
    import torch.nn as nn

    layers = decoder_layers(model)
    total = len(layers)
    keep = sorted(set(keep))
    if not keep or keep[0] < 0 or keep[-1] >= total:
        raise InvalidInput(f"layer indices {keep} out of range 0..{total - 1}")
    kept = [layers[i] for i in keep]
    for new_idx, layer in enumerate(kept):
        _set_layer_idx(layer, new_idx)
    parent = model
    path = _LAYER_PATHS[_model_type(model)]
    for attr in path[:-1]:
        parent = getattr(parent, attr)
    setattr(parent, path[-1], nn.ModuleList(kept))
    _renumber_device_map(model, ".".join(path), {old: new for new, old in enumerate(keep)})
    cfg = text_config(model)
    cfg.num_hidden_layers = len(kept)
    layer_types = getattr(cfg, "layer_types", None)
    if layer_types is not None and len(layer_types) == total:
        cfg.layer_types = [layer_types[i] for i in keep]
    if cfg is not model.config and hasattr(model.config, "num_hidden_layers"):
        model.config.num_hidden_layers = len(kept)
    return model


def remove_layers(model: Any, remove: Sequence[int]) -> Any:
    """Delete the decoder layers at ``remove`` (original indices); returns ``model``."""
    total = num_decoder_layers(model)
    bad = [i for i in remove if not 0 <= i < total]
    if bad:
        raise InvalidInput(f"layer indices {bad} out of range 0..{total - 1}")
    if len(set(remove)) >= total:
        raise InvalidInput(f"cannot remove all {total} decoder layers")
    removed = set(remove)
    return keep_layers(model, [i for i in range(total) if i not in removed])


def _renumber_device_map(model: Any, prefix: str, new_index: dict[int, int]) -> None:
    """A model spread over devices by accelerate keeps each kept layer where it was (its hook
    and weights go with the module); only ``hf_device_map``'s names follow the new indices."""
    mapping = getattr(model, "hf_device_map", None)
    if not mapping:
        return
    renamed: dict[str, Any] = {}
    for name, device in mapping.items():
        head, _, rest = name.removeprefix(prefix + ".").partition(".")
        if not name.startswith(prefix + ".") or not head.isdigit():
            renamed[name] = device
        elif int(head) in new_index:
            renamed[".".join(filter(None, (prefix, str(new_index[int(head)]), rest)))] = device
    model.hf_device_map = renamed


def _set_layer_idx(layer: Any, idx: int) -> None:
    for module in layer.modules():
        if hasattr(module, "layer_idx"):
            module.layer_idx = idx


def count_parameters(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


def remove_with_details(
    model: Any,
    removed: Sequence[int],
    nominal: float,
    *,
    per_removal: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Delete the layers ``removed`` (original indices, in removal order) and describe it.

    The details every layer-removal method reports, in one key order: ``removed_layers``, then
    ``per_removal`` (lists aligned with it, e.g. the loss after each removal), ``kept_layers``,
    ``num_layers_total``, ``extra`` and ``sparsity`` (nominal, realized = removed / L, and the
    fraction of the model's parameters removed).
    """
    layers = decoder_layers(model)
    total = len(layers)
    params_before = count_parameters(model)
    removed_params = sum(count_parameters(layers[i]) for i in removed)
    if removed:
        remove_layers(model, removed)
    gone = set(removed)
    return {
        "removed_layers": list(removed),
        **(per_removal or {}),
        "kept_layers": [i for i in range(total) if i not in gone],
        "num_layers_total": total,
        **(extra or {}),
        "sparsity": {
            "nominal": nominal,
            "realized": len(removed) / total,
            "param_fraction_removed": removed_params / params_before,
        },
    }
