"""Tiny models saved as the trainer saves one (weights + tokenizer with its chat template), for the model
server's tests: "a" trained a little longer than "b", so the two answer differently."""

from __future__ import annotations

from pathlib import Path

from tests.unit.evaluator import tiny_models as T


def build(root: Path) -> dict[str, Path]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    train = T.split(T.corpus())[0]
    folders = {}
    try:
        for name, seed, steps in (("a", 0, 40), ("b", 1, 5)):
            model, tokenizer = T.new_model(train, seed=seed)
            T.train(model, tokenizer, T.rendered(train, tokenizer), steps=steps, seed=seed)
            folders[name] = T.save(model, tokenizer, root / name)
    finally:
        torch.set_num_threads(threads)
    return folders
