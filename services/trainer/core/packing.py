"""Pack tokenized examples into fixed-length blocks for causal LM training.

Examples are concatenated into one stream, separated by ``eos_id`` so the model learns where one
ends, and the stream is cut into blocks of exactly ``block`` tokens: no padding, so every token in a
batch is trained on. The tail shorter than a block is dropped. When the whole stream is shorter than
one block there is nothing to train on: ``pack`` returns ``[]`` and the caller raises ``EmptySnapshot``
(padding one short block would train on a sliver of data while reporting a successful run).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PackStats:
    """``tokens_in == blocks * block + tokens_dropped``; tokens_in counts the separators added."""

    tokens_in: int
    blocks: int
    tokens_dropped: int


def pack_with_stats(
    sequences: Iterable[Sequence[int]], block: int, eos_id: int | None
) -> tuple[list[list[int]], PackStats]:
    """The blocks, and how many tokens went in and were dropped. Empty sequences are skipped."""
    if block < 1:
        raise ValueError(f"block must be at least 1, got {block}")
    blocks: list[list[int]] = []
    buffer: list[int] = []
    tokens_in = 0
    for sequence in sequences:
        if not sequence:
            continue
        buffer.extend(sequence)
        tokens_in += len(sequence)
        if eos_id is not None and sequence[-1] != eos_id:
            buffer.append(eos_id)
            tokens_in += 1
        if len(buffer) >= block:  # cut here so the buffer stays under one block plus one example
            whole = len(buffer) - len(buffer) % block
            blocks.extend(buffer[i : i + block] for i in range(0, whole, block))
            del buffer[:whole]
    return blocks, PackStats(tokens_in=tokens_in, blocks=len(blocks), tokens_dropped=len(buffer))


def pack(sequences: Iterable[Sequence[int]], block: int, eos_id: int | None) -> list[list[int]]:
    """Blocks of exactly ``block`` tokens; ``[]`` when the stream is shorter than one block."""
    return pack_with_stats(sequences, block, eos_id)[0]
