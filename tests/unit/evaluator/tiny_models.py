"""Tiny models for the evaluator's tests: a templated corpus from two sources, the trainer's tiny Llama,
a plain torch training loop, saved like the trainer saves a model (weights + tokenizer)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from libs.model_folder.manifest import DataManifest, ModelManifest, ids_digest
from libs.training_data.render import render_all
from libs.training_data.split import is_eval
from services.evaluator.core.examples import EvalExample
from services.trainer.core.config import TinyModelConfig

EVAL_FRACTION = 0.25
SEQ_LEN = 64
TINY = TinyModelConfig(hidden_size=48, layers=2, heads=4, kv_heads=2, intermediate_size=96, vocab_size=400)

THINGS = ["password", "printer", "router", "badge", "laptop", "phone", "mailbox", "vpn", "token", "desk"]
ACTIONS = ["reset", "replace", "unlock", "register"]
ANIMALS = ["fox", "owl", "bear", "deer", "hare", "wolf", "lynx", "crow"]
PLACES = ["forest", "valley", "meadow", "hills", "marsh"]
FOODS = ["berries", "mice", "roots", "fish", "seeds"]


@dataclass(frozen=True)
class Record:
    id: str
    source: str
    content: str
    fields: dict[str, Any]


def corpus() -> list[Record]:
    records = []
    for thing, action in itertools.product(THINGS, ACTIONS):
        records.append(
            Record(
                id=f"support-{thing}-{action}",
                source="support",
                content="",
                fields={
                    "question": f"How do I {action} my {thing}?",
                    "answer": f"Open the {thing} page and press {action}.",
                },
            )
        )
    for animal, place, food in itertools.product(ANIMALS, PLACES, FOODS):
        records.append(
            Record(
                id=f"wiki-{animal}-{place}-{food}",
                source="wiki",
                content=f"The {animal} lives in the {place} and eats {food} every day of the year.",
                fields={},
            )
        )
    return records


def split(records: Sequence[Record]) -> tuple[list[Record], list[Record]]:
    train = [r for r in records if not is_eval(r.id, EVAL_FRACTION)]
    held = [r for r in records if is_eval(r.id, EVAL_FRACTION)]
    return train, held


def texts_of(records: Sequence[Record]) -> list[str]:
    return [r.content or f"{r.fields['question']}\n{r.fields['answer']}" for r in records]


def new_model(records: Sequence[Record], seed: int = 0, vocab_size: int = TINY.vocab_size) -> tuple[Any, Any]:
    from services.trainer.training.tiny import build_model, build_tokenizer

    tokenizer = build_tokenizer(texts_of(records), vocab_size)
    return build_model(TINY, tokenizer, SEQ_LEN, seed), tokenizer


def train(
    model: Any, tokenizer: Any, texts: Sequence[str], steps: int, seed: int = 0, lr: float = 3e-3
) -> None:
    """Plain next-token training on padded rendered examples (no packing: short texts)."""
    import torch

    torch.manual_seed(seed)
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    pad = tokenizer.pad_token_id
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = [ids[int(i)][:SEQ_LEN] for i in torch.randint(len(ids), (16,), generator=generator)]
        width = max(len(b) for b in batch)
        input_ids = torch.tensor([b + [pad] * (width - len(b)) for b in batch])
        mask = torch.tensor([[1] * len(b) + [0] * (width - len(b)) for b in batch])
        labels = input_ids.masked_fill(mask == 0, -100)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


def rendered(records: Sequence[Record], tokenizer: Any) -> list[str]:
    from libs.training_data.formatting import to_example

    examples = [to_example(r.content, r.fields) for r in records]
    return render_all([e for e in examples if e is not None], tokenizer)


def save(model: Any, tokenizer: Any, folder: Path) -> Path:
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def eval_set(records: Sequence[Record], dataset: str = "general") -> list[EvalExample]:
    from services.evaluator.core.examples import eval_examples

    return eval_examples(records, dataset, EVAL_FRACTION)


def publish(
    model: Any, tokenizer: Any, base: Path, folder: Path, run_id: str, dataset: str, watermark: dt.datetime
) -> Path:
    """A model folder as the trainer publishes it: weights, tokenizer, base, eval split, training log and
    a manifest whose data watermark (and creation time) is ``watermark``."""
    save(model, tokenizer, folder)
    shutil.copytree(base, folder / "base")
    records = corpus()
    held = split(records)[1]
    with open(folder / "eval.jsonl", "w") as out:
        for example in eval_set(records, dataset):
            row: dict[str, str | None] = {"id": example.record_id, "source": example.source}
            row["dataset"] = dataset
            row |= (
                {"text": example.text}
                if example.text
                else {"prompt": example.prompt, "response": example.response}
            )
            out.write(json.dumps(row) + "\n")
    losses = [{"step": step, "loss": 5.0 / step} for step in range(1, 20)]
    (folder / "training_log.json").write_text(json.dumps(losses))
    data = DataManifest(
        dataset=dataset, watermark=watermark, record_count=len(records),
        train_records=len(records) - len(held), eval_records=len(held), train_blocks=1, eval_blocks=1,
        tokens=1, ids_digest=ids_digest(r.id for r in records), eval_fraction=EVAL_FRACTION,
    )  # fmt: skip
    manifest = ModelManifest(
        run_id=run_id, dataset=dataset, base_model="tuneline/tiny-llama", base_model_kind="tiny-built",
        created_at=watermark, data=data, training={}, code_version="test", finetune="full",
        base_model_dir="base",
    )  # fmt: skip
    (folder / "manifest.json").write_text(manifest.model_dump_json())
    return folder
