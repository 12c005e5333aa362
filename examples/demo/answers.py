"""The base model and the fine-tuned one answering the same held-out questions, greedily, through the
model's chat template: what fine-tuning changed, in words a person can judge."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from examples.demo.view import Answer


def generate_answers(model_dir: str | Path, questions: Sequence[str], max_new_tokens: int = 120) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model.eval()
    tokenizer.padding_side = "left"  # generation continues every row from its last real token
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template:
        prompts = [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True
            )
            for q in questions
        ]
    else:
        prompts = [f"### Prompt:\n{q}\n\n### Response:\n" for q in questions]
    batch = tokenizer(
        prompts, return_tensors="pt", padding=True, add_special_tokens=not tokenizer.chat_template
    )
    with torch.inference_mode():
        out = model.generate(
            **batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
    new_tokens = out[:, batch["input_ids"].shape[1] :]
    return [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def side_by_side(
    base_dir: str | Path, tuned_dir: str | Path, questions: Sequence[tuple[str, str]]
) -> list[Answer]:
    """``questions``: (question, the answer support gives) pairs that no training record contains."""
    asked = [q for q, _ in questions]
    base = generate_answers(base_dir, asked)
    tuned = generate_answers(tuned_dir, asked)
    return [Answer(q, expected, b, t) for (q, expected), b, t in zip(questions, base, tuned, strict=True)]
