"""Attention and MLP sublayers of a decoder layer: naming, residual forwards, and dropping them.

A decoder layer of every supported architecture is two residual sublayers, h -> h + F(h):

- ``attn.i``: F = [post-attention norm] o self_attn o input norm (the post-norm is Gemma 3's);
- ``mlp.i``: F = [post-feedforward norm] o mlp o pre-MLP norm (Llama's ``post_attention_layernorm``,
  Gemma 3's ``pre_feedforward_layernorm``).

Dropping sublayers (``drop_sublayers``) regroups the kept ones into decoder layers, one per
kept attention: a layer with a dropped attention sublayer hands its MLP to the previous group
(MLPs before the first kept attention join the first group). Each group is a decoder layer
again, so the model's own forward gives it the mask, rotary table and cache slot of *its*
attention: the attention modules are renumbered 0..K-1 (their ``layer_idx`` is the KV-cache
slot), the config's ``num_hidden_layers`` and ``layer_types`` follow, and the cache the model
builds has exactly K layers -- a dropped attention costs no cache memory at all. An untouched
layer keeps its original module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from methods.layers import count_parameters, decoder_layers, text_config
from skipbench.errors import InvalidInput

KINDS = ("attn", "mlp")


def sublayer_name(kind: str, layer: int) -> str:
    return f"{kind}.{layer}"


def parse_sublayer(name: str, total: int) -> tuple[str, int]:
    """``"attn.12"`` -> ``("attn", 12)``; one-line ``InvalidInput`` for anything else."""
    kind, _, idx = name.partition(".")
    if kind not in KINDS or not idx.isdigit() or not 0 <= int(idx) < total:
        raise InvalidInput(f"sublayer {name!r} is not attn.<i> or mlp.<i> with i in 0..{total - 1}")
    return kind, int(idx)


def is_sandwich(layer: Any) -> bool:
    """Gemma-style layers norm the sublayer outputs too (``pre_feedforward_layernorm`` exists)."""
    return hasattr(layer, "pre_feedforward_layernorm")


def sublayer_parts(layer: Any, kind: str) -> tuple[Any, Any, Any]:
    """``(input norm, module, output norm or None)`` of one sublayer of a decoder layer."""
    if kind == "attn":
        post = layer.post_attention_layernorm if is_sandwich(layer) else None
        return layer.input_layernorm, layer.self_attn, post
    if is_sandwich(layer):
        return layer.pre_feedforward_layernorm, layer.mlp, layer.post_feedforward_layernorm
    return layer.post_attention_layernorm, layer.mlp, None


def mlp_input_module(layer: Any) -> Any:
    """The module whose input is the residual stream entering the MLP sublayer."""
    return sublayer_parts(layer, "mlp")[0]


def sublayer_parameters(layer: Any, kind: str) -> int:
    return sum(count_parameters(m) for m in sublayer_parts(layer, kind) if m is not None)


def _module_classes() -> tuple[type, type]:
    import torch.nn as nn

    class Sublayer(nn.Module):
        """One residual sublayer: ``h + post(module(norm(h)))``, holding only its own parts."""

        def __init__(self, kind: str, index: int, layer: Any) -> None:
            super().__init__()
            self.kind, self.index = kind, index
            norm, module, post = sublayer_parts(layer, kind)
            self.norm, self.module = norm, module
            self.post = post if post is not None else nn.Identity()

        def forward(self, hidden_states: Any, **kwargs: Any) -> Any:
            x = self.norm(hidden_states)
            x = self.module(hidden_states=x, **kwargs)[0] if self.kind == "attn" else self.module(x)
            return hidden_states + self.post(x)

    class SublayerStack(nn.Module):
        """A decoder layer made of sublayers run in order (at most one attention)."""

        def __init__(self, sublayers: Sequence[Any]) -> None:
            super().__init__()
            self.sublayers = nn.ModuleList(sublayers)
            self.names = [sublayer_name(s.kind, s.index) for s in sublayers]

        def forward(self, hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
            for sub in self.sublayers:
                hidden_states = (
                    sub(hidden_states, **kwargs) if sub.kind == "attn" else sub(hidden_states)
                )
            return hidden_states

        def extra_repr(self) -> str:
            return ", ".join(self.names) or "identity"

    return Sublayer, SublayerStack


_CLASSES: tuple[type, type] | None = None


def _classes() -> tuple[type, type]:
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _module_classes()
    return _CLASSES


def sublayer(kind: str, index: int, layer: Any) -> Any:
    return _classes()[0](kind, index, layer)


def stack(parts: Sequence[tuple[str, int, Any]]) -> Any:
    """A decoder layer running ``(kind, original index, original layer)`` sublayers in order."""
    return _classes()[1]([sublayer(k, i, layer) for k, i, layer in parts])


def layer_without(index: int, layer: Any, dropped: Iterable[str]) -> Any:
    """Decoder layer ``index`` without the sublayer kinds in ``dropped`` (empty: identity)."""
    gone = set(dropped)
    return stack([(k, index, layer) for k in KINDS if k not in gone])


def kv_bytes_per_token(attn: Any, dtype_size: int) -> int:
    """K and V bytes one token adds to this attention layer's cache."""
    return (attn.k_proj.out_features + attn.v_proj.out_features) * dtype_size


class CountsSublayerUnits:
    """Mixin listed before ``Method[...]`` when the config counts sublayer units, not layers.

    Such a config has ``units(L)`` and ``to_drop(L)`` (LLM-Drop, BlockPruner); this checks and
    counts with them where the base would use ``layers_to_skip``.
    """

    config: Any

    def validate_for(self, num_layers: int) -> None:
        self.config.to_drop(num_layers)

    def units_to_drop(self, model: Any) -> tuple[int, int]:
        """(the model's decoder layers L, the units to drop); ``InvalidInput`` if too many."""
        total = len(decoder_layers(model))
        return total, self.config.to_drop(total)


def drop_sublayers(
    model: Any,
    removed: Sequence[str],
    nominal: float,
    realized: float,
    *,
    per_removal: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Drop the sublayers ``removed`` (names, in removal order) in place and describe it.

    ``realized`` is the caller's unit (fraction of the attention sublayers, of all sublayers,
    ...); the details add the fraction of all sublayers and of the parameters removed, and the
    KV-cache bytes per token before and after.
    """
    layers = decoder_layers(model)
    total = len(layers)
    parsed = [parse_sublayer(name, total) for name in removed]
    if len(set(parsed)) != len(parsed):
        raise InvalidInput(f"sublayers {list(removed)} name one sublayer twice")
    gone = set(parsed)
    kept_attn = [i for i in range(total) if ("attn", i) not in gone]
    if not kept_attn:
        raise InvalidInput("cannot drop every attention sublayer (the KV cache needs one)")
    params_before = count_parameters(model)
    removed_params = sum(sublayer_parameters(layers[i], k) for k, i in parsed)
    itemsize = next(model.parameters()).element_size()
    cfg = text_config(model)
    layer_types = getattr(cfg, "layer_types", None)
    per_layer = [kv_bytes_per_token(layers[i].self_attn, itemsize) for i in range(total)]
    kv = {
        "bytes_per_token_dense": sum(per_layer),
        "bytes_per_token_saved": sum(per_layer[i] for k, i in parsed if k == "attn"),
        "bytes_per_token": sum(per_layer[i] for i in kept_attn),
        "dtype_bytes": itemsize,
    }
    if layer_types is not None and len(layer_types) == total:
        kv["sliding_window_layers_dropped"] = sum(
            1 for k, i in parsed if k == "attn" and layer_types[i] != "full_attention"
        )
    if gone:
        _regroup(model, layers, gone, layer_types)
    return {
        "removed_sublayers": list(removed),
        **(per_removal or {}),
        "removed_attention": sorted(i for k, i in parsed if k == "attn"),
        "removed_mlp": sorted(i for k, i in parsed if k == "mlp"),
        "num_layers_total": total,
        "num_sublayers_total": 2 * total,
        **(extra or {}),
        "kv_cache": kv,
        "sparsity": {
            "nominal": nominal,
            "realized": realized,
            "sublayer_fraction_removed": len(parsed) / (2 * total),
            "param_fraction_removed": removed_params / params_before,
        },
    }


def _regroup(model: Any, layers: Any, gone: set, layer_types: Any) -> None:
    """Rebuild the layer list: one decoder layer per kept attention (module docstring)."""
    total = len(layers)
    groups: list[list[tuple[str, int]]] = []
    leading: list[tuple[str, int]] = []
    for i in range(total):
        for kind in KINDS:
            if (kind, i) in gone:
                continue
            if kind == "attn":
                groups.append(([] if groups else leading) + [(kind, i)])
            elif groups:
                groups[-1].append((kind, i))
            else:
                leading.append((kind, i))
    originals = list(layers)
    new_layers, attn_of = [], []
    for group in groups:
        attn_index = next(i for k, i in group if k == "attn")
        if group == [("attn", attn_index), ("mlp", attn_index)]:
            new_layers.append(originals[attn_index])  # untouched: the original module
        else:
            new_layers.append(stack([(k, i, originals[i]) for k, i in group]))
        attn_of.append(attn_index)
    for slot, module in enumerate(new_layers):
        for sub in module.modules():  # the attention's cache slot (and an untouched layer's own)
            if hasattr(sub, "layer_idx"):
                sub.layer_idx = slot
        layers[slot] = module
    del layers[len(new_layers) :]
    cfg = text_config(model)
    cfg.num_hidden_layers = len(new_layers)
    if layer_types is not None and len(layer_types) == total:
        cfg.layer_types = [layer_types[i] for i in attn_of]
    if cfg is not model.config and hasattr(model.config, "num_hidden_layers"):
        model.config.num_hidden_layers = len(new_layers)
