from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.trainer.core.packing import pack, pack_with_stats

EOS = 0
token_lists = st.lists(st.lists(st.integers(min_value=0, max_value=50), max_size=40), max_size=30)


def stream(sequences: list[list[int]], eos_id: int | None) -> list[int]:
    """The separated stream, built independently of pack()."""
    out: list[int] = []
    for sequence in sequences:
        if sequence:
            out += sequence
            if eos_id is not None and sequence[-1] != eos_id:
                out.append(eos_id)
    return out


@given(token_lists, st.integers(min_value=1, max_value=64), st.sampled_from([None, EOS, 7]))
def test_blocks_are_full_and_a_prefix_of_the_stream(
    sequences: list[list[int]], block: int, eos_id: int | None
) -> None:
    blocks, stats = pack_with_stats(sequences, block, eos_id)
    expected = stream(sequences, eos_id)
    assert all(len(b) == block for b in blocks)
    flat = list(itertools.chain.from_iterable(blocks))
    assert flat == expected[: len(flat)]
    assert len(expected) - len(flat) < block  # only the tail is dropped
    assert stats.tokens_in == len(expected)
    assert stats.blocks == len(blocks)
    assert stats.tokens_in == stats.blocks * block + stats.tokens_dropped


@given(token_lists, st.integers(min_value=1, max_value=64))
def test_pack_returns_the_same_blocks_from_a_generator(sequences: list[list[int]], block: int) -> None:
    assert pack((s for s in sequences), block, EOS) == pack_with_stats(sequences, block, EOS)[0]


def test_examples_are_separated_by_eos_once() -> None:
    blocks = pack([[5, 6], [7, EOS], [8]], block=3, eos_id=EOS)
    assert blocks == [[5, 6, EOS], [7, EOS, 8]]  # [7, EOS] already ended; the tail [EOS] is dropped


def test_without_eos_sequences_are_joined_as_they_are() -> None:
    assert pack([[1, 2, 3], [4, 5]], block=2, eos_id=None) == [[1, 2], [3, 4]]


def test_empty_sequences_add_nothing() -> None:
    blocks, stats = pack_with_stats([[], [1], [], [2]], block=2, eos_id=EOS)
    assert blocks == [[1, EOS], [2, EOS]]
    assert stats.tokens_in == 4


def test_a_stream_shorter_than_one_block_packs_to_nothing() -> None:
    blocks, stats = pack_with_stats([[1, 2], [3]], block=16, eos_id=EOS)
    assert blocks == []
    assert stats.blocks == 0
    assert stats.tokens_dropped == stats.tokens_in == 5


def test_no_input_packs_to_nothing() -> None:
    blocks, stats = pack_with_stats([], block=4, eos_id=EOS)
    assert blocks == []
    assert (stats.tokens_in, stats.tokens_dropped) == (0, 0)


def test_one_long_sequence_is_cut_into_many_blocks() -> None:
    sequence = list(range(1, 1001))
    blocks = pack([sequence], block=100, eos_id=EOS)
    assert len(blocks) == 10
    assert blocks[-1][-1] == 1000  # the separator is the dropped tail


@pytest.mark.parametrize("block", [0, -1])
def test_block_must_be_positive(block: int) -> None:
    with pytest.raises(ValueError, match="block"):
        pack([[1, 2]], block, EOS)
