import pytest
import torch

from methods.layers import decoder_layers, num_decoder_layers, remove_layers
from skipbench.errors import InvalidInput
from tests.tiny import tiny_model

ARCHS = ["llama", "mistral", "qwen2", "qwen3", "gemma3_text"]


@pytest.mark.parametrize("arch", ARCHS)
def test_accessor_finds_layers(arch):
    model = tiny_model(arch, num_layers=5)
    layers = decoder_layers(model)
    assert len(layers) == 5 == num_decoder_layers(model)
    assert layers is model.model.layers


def test_gemma3_multimodal_wrapper():
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    from tests.tiny import tiny_config

    text = tiny_config("gemma3_text", num_layers=3).to_dict()
    vision = dict(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=28,
        patch_size=14,
    )
    model = Gemma3ForConditionalGeneration(
        Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4)
    )
    assert num_decoder_layers(model) == 3
    assert decoder_layers(model) is model.model.language_model.layers


def test_unsupported_architecture_is_a_clear_error():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=50))
    with pytest.raises(
        InvalidInput, match="unsupported architecture 'gpt2'; supported: llama, mistral"
    ):
        decoder_layers(model)


@pytest.mark.parametrize("arch", ARCHS)
def test_remove_layers_matches_manual_deletion_with_and_without_cache(arch):
    """Removing layers equals a model whose forward simply skips them (checked by a plain loop)."""
    model = tiny_model(arch, num_layers=6)
    ids = torch.randint(3, 90, (2, 12))
    keep = [0, 2, 3, 5]
    reference_layers = [decoder_layers(model)[i] for i in keep]
    remove_layers(model, [4, 1])
    assert num_decoder_layers(model) == 4
    assert list(decoder_layers(model)) == reference_layers
    assert model.config.num_hidden_layers == 4
    if getattr(model.config, "layer_types", None) is not None:
        assert len(model.config.layer_types) == 4
    for new_idx, layer in enumerate(decoder_layers(model)):
        assert layer.self_attn.layer_idx == new_idx
    with torch.no_grad():
        full = model(input_ids=ids, use_cache=False).logits
        # prefill + one cached step must equal the uncached forward on the longer input
        out = model(input_ids=ids[:, :-1], use_cache=True)
        step = model(
            input_ids=ids[:, -1:], past_key_values=out.past_key_values, use_cache=True
        ).logits
    torch.testing.assert_close(step[:, -1], full[:, -1], rtol=1e-4, atol=1e-5)
    generated = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert generated.shape == (2, 15)


def test_remove_layers_rejects_bad_indices():
    model = tiny_model("llama", num_layers=3)
    with pytest.raises(InvalidInput, match="out of range 0..2"):
        remove_layers(model, [3])
    with pytest.raises(InvalidInput, match="cannot remove all 3"):
        remove_layers(model, [0, 1, 2])


@pytest.mark.parametrize("arch", ["llama", "gemma3_text"])
def test_removed_model_equals_fresh_model_built_from_kept_weights(arch):
    """Independent check: a model constructed with only the kept layers gives the same logits."""
    from transformers import AutoModelForCausalLM

    model = tiny_model(arch, num_layers=6)
    keep = [0, 2, 3, 5]
    old_types = getattr(model.config, "layer_types", None)
    state = model.state_dict()
    remove_layers(model, [1, 4])

    config = model.config.__class__.from_dict(model.config.to_dict())
    config.num_hidden_layers = 4
    if old_types is not None:
        config.layer_types = [old_types[i] for i in keep]
    fresh = AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    mapped = {}
    for key, value in state.items():
        if ".layers." in key:
            prefix, rest = key.split(".layers.", 1)
            idx, tail = rest.split(".", 1)
            if int(idx) not in keep:
                continue
            key = f"{prefix}.layers.{keep.index(int(idx))}.{tail}"
        mapped[key] = value
    fresh.load_state_dict(mapped)
    ids = torch.randint(3, 90, (1, 40))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, fresh(ids).logits, rtol=0, atol=1e-6)


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_hooks_only_forward_gives_layers_the_full_forwards_states(model_type):
    from methods.layers import hooks_only_forward, layer_output

    model = tiny_model(model_type, 4)
    ids = torch.randint(3, 90, (1, 24), generator=torch.Generator().manual_seed(0))
    seen: list = []
    head: list = []
    for layer in decoder_layers(model):
        layer.register_forward_hook(lambda m, a, o: seen.append(layer_output(o).clone()))
    model.lm_head.register_forward_pre_hook(lambda m, a: head.append(a[0].shape[1]))
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)
        full = list(seen)
        seen.clear()
        hooks_only_forward(model, ids)
    assert head == [24, 1]  # the LM head ran on the last position only
    assert len(seen) == 4 and all(torch.equal(a, b) for a, b in zip(seen, full))
