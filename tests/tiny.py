"""Tiny random models (no download) for unit tests: one builder per supported architecture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

VOCAB = 96


def tiny_config(model_type: str = "llama", num_layers: int = 4, **overrides: Any) -> Any:
    from transformers import Gemma3TextConfig, LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config

    common = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    builders = {
        "llama": lambda: LlamaConfig(**common),
        "mistral": lambda: MistralConfig(**common, sliding_window=None),
        "qwen2": lambda: Qwen2Config(**common),
        "qwen3": lambda: Qwen3Config(**common, head_dim=8),
        "gemma3_text": lambda: Gemma3TextConfig(**common, head_dim=8, sliding_window=16),
    }
    config = builders[model_type]()
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def tiny_model(
    model_type: str = "llama", num_layers: int = 4, seed: int = 0, **overrides: Any
) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = tiny_config(model_type, num_layers, **overrides)
    model = AutoModelForCausalLM.from_config(
        config, dtype=torch.float32, attn_implementation="eager"
    )
    return model.eval()


def tiny_tokenizer() -> Any:
    """A character-level fast tokenizer with the tiny vocabulary (no files needed)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = [chr(c) for c in range(32, 32 + VOCAB - 4)]
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3}
    vocab.update({c: i + 4 for i, c in enumerate(chars)})
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )


def save_tiny_model_dir(
    path: Path, model_type: str = "llama", num_layers: int = 4, seed: int = 0
) -> Path:
    model = tiny_model(model_type, num_layers, seed)
    model.save_pretrained(str(path))
    tiny_tokenizer().save_pretrained(str(path))
    return path
