from __future__ import annotations

from collections.abc import Sequence

from services.server.core.text import TextAssembler

# A toy tokenizer: each id is one piece of text; 900 and 901 are the two halves of "é" in UTF-8, which
# decode to a replacement character until both are there (as a byte-level BPE tokenizer does).
PIECES = {1: "Hel", 2: "lo", 3: " wor", 4: "ld", 5: "\n", 6: "##", 7: "#", 8: " END", 9: "E"}


def decode(ids: Sequence[int]) -> str:
    out, pending = [], False
    for i in ids:
        if i == 900:
            pending = True
        elif i == 901 and pending:
            out.append("é")
            pending = False
        else:
            out.append(PIECES[i])
    return "".join(out) + ("\ufffd" if pending else "")


def stream(assembler: TextAssembler, ids: Sequence[int]) -> list[str]:
    return [assembler.push(i) for i in ids]


def test_text_is_released_token_by_token() -> None:
    a = TextAssembler(decode)
    assert stream(a, [1, 2, 3, 4]) == ["Hel", "lo", " wor", "ld"]
    assert a.finish() == ""
    assert a.text == "Hello world" and a.tokens == 4 and not a.stopped


def test_half_a_character_is_held_until_it_is_whole() -> None:
    a = TextAssembler(decode)
    assert stream(a, [1, 900, 901, 2]) == ["Hel", "", "é", "lo"]


def test_a_stop_string_ends_the_text_before_it_even_across_tokens() -> None:
    a = TextAssembler(decode, stop=["##"])
    assert stream(a, [1, 2, 7]) == ["Hel", "lo", ""]  # "#" could start "##": held back
    assert a.push(7) == "" and a.stopped  # "##" complete: nothing of it is sent
    assert a.text == "Hello"
    assert a.push(3) == "" and a.finish() == ""


def test_a_held_prefix_is_released_when_the_stop_string_does_not_follow() -> None:
    a = TextAssembler(decode, stop=["##"])
    assert stream(a, [1, 7, 3]) == ["Hel", "", "# wor"]
    assert not a.stopped


def test_the_held_prefix_is_released_at_the_end() -> None:
    a = TextAssembler(decode, stop=[" END"])
    assert stream(a, [1, 9]) == ["Hel", "E"]  # "E" alone does not begin " END": sent at once
    b = TextAssembler(decode, stop=["lo END"])
    assert stream(b, [1, 2]) == ["He", "l"]  # "l", then "lo", could begin "lo END": held
    assert b.finish() == "lo"


def test_the_earliest_of_several_stop_strings_wins() -> None:
    a = TextAssembler(decode, stop=["ld", " wor"])
    assert "".join(stream(a, [1, 2, 3, 4])) == "Hello"
    assert a.stopped and a.text == "Hello"
