"""The embedded default base model: a small Llama-style causal LM with a byte-level BPE tokenizer trained
on the snapshot itself. It lets the whole pipeline run offline; the manifest names it as built locally."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from services.trainer.core.config import TinyModelConfig

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<|user|>", "<|assistant|>"]
ROLES = dict(zip(("unk_token", "bos_token", "eos_token", "pad_token"), SPECIAL_TOKENS, strict=False))
# A minimal chat template so prompt/response records are formatted the way a chat model would see them.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def build_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=ROLES["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte stays encodable
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, additional_special_tokens=SPECIAL_TOKENS[4:], **ROLES
    )
    hf.chat_template = CHAT_TEMPLATE
    return hf


def build_model(config: TinyModelConfig, tokenizer: Any, seq_len: int, seed: int) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.layers,
        num_attention_heads=config.heads,
        num_key_value_heads=config.kv_heads,
        max_position_embeddings=max(seq_len, 256),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)  # the same snapshot and config give the same base model
    return LlamaForCausalLM(model_config)


def build_tiny_base(texts: list[str], config: TinyModelConfig, seq_len: int, seed: int, out: Path) -> int:
    """Train the tokenizer on ``texts``, initialise the model and save both to ``out``; returns the
    parameter count."""
    tokenizer = build_tokenizer(texts[: config.tokenizer_sample], config.vocab_size)
    model = build_model(config, tokenizer, seq_len, seed)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return int(sum(p.numel() for p in model.parameters()))
