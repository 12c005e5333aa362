"""Snapshot records -> rendered training text -> batched tokenization -> packed blocks on disk.

Runs in the job process before the workers start, so every worker reads the same packed tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.trainer.core.packing import pack

TOKENIZE_BATCH = 1024  # fast tokenizers encode a list in Rust; a batch amortises the Python call


@dataclass(frozen=True)
class PackedSplit:
    input_ids: list[list[int]]
    labels: list[list[int]]
    tokens: int  # real (not padding) tokens


def tokenize(texts: Sequence[str], tokenizer: Any) -> list[list[int]]:
    ids: list[list[int]] = []
    for start in range(0, len(texts), TOKENIZE_BATCH):
        batch = list(texts[start : start + TOKENIZE_BATCH])
        ids.extend(tokenizer(batch, add_special_tokens=False)["input_ids"])
    return ids


def pack_split(sequences: list[list[int]], block: int, eos_id: int | None, pad_id: int) -> PackedSplit:
    """Pack into full blocks; a split too small for one block (a small eval side) becomes one padded
    block whose padding is masked out of the loss, so it still measures something."""
    blocks = pack(sequences, block, eos_id)
    if blocks:
        return PackedSplit(blocks, [list(b) for b in blocks], len(blocks) * block)
    stream = [t for seq in sequences for t in seq][:block]
    if not stream:
        return PackedSplit([], [], 0)
    padding = block - len(stream)
    return PackedSplit([stream + [pad_id] * padding], [stream + [-100] * padding], len(stream))


def save_blocks(path: Path, train: PackedSplit, evaluation: PackedSplit) -> None:
    import torch

    def tensors(split: PackedSplit) -> dict[str, Any]:
        return {
            "input_ids": torch.tensor(split.input_ids, dtype=torch.long),
            "labels": torch.tensor(split.labels, dtype=torch.long),
        }

    torch.save({"train": tensors(train), "eval": tensors(evaluation)}, path)


class BlockDataset:
    """A torch-style dataset over packed blocks (padding, where any, is masked by labels = -100)."""

    def __init__(self, split: dict[str, Any]) -> None:
        self.input_ids = split["input_ids"]
        self.labels = split["labels"]

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def __getitem__(self, i: int) -> dict[str, Any]:
        labels = self.labels[i]
        return {"input_ids": self.input_ids[i], "labels": labels, "attention_mask": (labels != -100).long()}
