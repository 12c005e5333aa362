"""Two tiny models saved as the trainer saves one (weights + tokenizer with its chat template), built once
per session: the server's tests need real transformers models, not their answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.evaluator import tiny_models as T


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("server-models")
    train = T.split(T.corpus())[0]
    folders = {}
    for name, seed, steps in (("a", 0, 40), ("b", 1, 5)):
        model, tokenizer = T.new_model(train, seed=seed)
        T.train(model, tokenizer, T.rendered(train, tokenizer), steps=steps, seed=seed)
        folders[name] = T.save(model, tokenizer, root / name)
    torch.set_num_threads(threads)
    return folders
