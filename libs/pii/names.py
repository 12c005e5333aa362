"""Person names: cheap candidates first, spaCy NER (through a protocol) only where it can matter.

1. Candidates are runs of capitalized words that are not common words (``stopwords``), outside the
   values the pattern recognizers already found. A text without one never reaches the NER model:
   a name is capitalized in every language the model knows. A single dictionary word at the start
   of a sentence (``Requires``, ``Maintainer``) is capitalized for that reason alone: skipped.
2. A run of two or more such words (``Ana Vitória Peixoto``), or one right after a cue (``Dear``,
   ``Hi``, ``Mr``, ``customer``...) or before one (``wrote``, ``said``), is a name without asking the
   model: first and last names of every locale, which a small English model often misses.
3. Single words go to the NER model as short windows (the candidate and a few words each side), batched
   over many texts; a PERSON entity that touches a candidate marks the whole run.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from libs.pii.entities import PERSON, Span
from libs.pii.stopwords import STOP_WORDS

_WORD: Final = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*(?:-[^\W\d_]+)*")
_PARTICLES: Final = frozenset(
    (
        "van von vom zu de der den het ten ter te die da das di del della dos du des la le los las el "
        "bin ibn al y e"
    ).split()
)
# Words right before a name (lower case, last word of the cue).
_CUES_BEFORE: Final = frozenset(
    (
        "hi hello hey dear thanks thx regards cheers sincerely cc mr mrs ms miss dr prof sir madam name "
        "customer client user contact agent assignee reporter requester owner employee manager colleague "
        "patient caller author signed by attn assigned ping met called emailed spoke "
        "congrats welcome per"
    ).split()
)
_CUES_AFTER: Final = frozenset(("wrote said says asked replied commented mentioned").split())
_SENTENCE_END: Final = frozenset(".!?:\n")

# First names written alone where people write them: after a greeting at a line start ("Hi April,",
# "Hello Bram"), on the line after a sign-off or after a sign-off comma ("Thanks,\nBram",
# "Cheers, Bram", "Thank you!\nQuentin (q@example.com)"), and alone on a line that opens a short
# signature block at the end of a message ("...this ticket.\n\nMalik\nLarkspur Support"). The
# greeting and sign-off lines are cues strong enough to name even a word that doubles as a month
# ("Hi April,"); the words people greet instead of a person ("Hi there", "Hello team", "Dear
# customer", "Thanks,\nThe Larkspur team") are not names.
_NAME_WORD: Final = r"[A-Z\u00c0-\u00de][^\W\d_]+(?:['’-][^\W\d_]+)?"
_GREETING: Final = re.compile(
    r"(?m)^[ \t>*-]*(?i:hi|hello|hey|hiya|dear|morning|good (?:morning|afternoon|evening)|greetings)"
    r"[ \t]+(?P<name>" + _NAME_WORD + r")[ \t]*(?=[,!:;.]|$)"
)
_SIGN_OFF: Final = re.compile(
    r"(?m)^[ \t>*-]*(?i:thanks|thank you|many thanks|thanks again|thanks so much|thank you so much|thx|"
    r"ty|cheers|best|best regards|kind regards|warm regards|warmest regards|regards|sincerely|"
    r"yours|yours truly|yours sincerely|all the best|best wishes|talk soon|take care|br|kr|"
    r"with thanks|respectfully|cordially)"
    r"(?:[ \t]*[,!.]?[ \t]*\n[ \t]*|,[ \t]+)(?P<name>" + _NAME_WORD + r")[ \t]*(?=$|[,(<|]|[-–—][ \t])"
)
_SIGNATURE: Final = re.compile(
    r"(?:\A|\n[ \t]*\n)[ \t]*(?P<name>" + _NAME_WORD + r")[ \t]*(?:\Z|\n(?P<next>[^\n]*))"
)
_NOT_NAMES: Final = frozenset(
    (
        "there all everyone everybody folks guys team teams customer customers sir madam support again "
        "both friends colleagues world you y'all people gang crew staff admin admins sales billing"
    ).split()
)
# Stop words that are also first names: named after a greeting or a sign-off only.
_NAME_LIKE_STOP_WORDS: Final = frozenset("april may june july august will kind".split())
# ... or after a title ("Mr. May"), or as the last name after a first name ("Dan May has"), not before
# a digit ("Release May 2025").
_NAME_LIKE_SURNAMES: Final = frozenset("april may june july august".split())
# Titles: their abbreviation's full stop ("Mr. Mayers", "Dr. Ng") ends no sentence.
_TITLES: Final = frozenset("mr mrs ms mx dr prof".split())


class NerTagger(Protocol):
    """A named-entity model: for each text, (start, end, label) of every entity it found."""

    def tag(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]: ...

    def common_words(self) -> frozenset[str]:
        """Lower-case dictionary words of the model's language (may be empty)."""
        ...


@dataclass(frozen=True, slots=True)
class Candidate:
    start: int
    end: int
    words: int
    cue: bool


def _is_title(word: str) -> bool:
    return word[0].isupper() and any(c.islower() for c in word[1:])


class NameFinder:
    def __init__(
        self,
        ner: NerTagger | None,
        window_words: int = 6,
        stopwords: frozenset[str] = STOP_WORDS,
        common_words: frozenset[str] = frozenset(),
    ) -> None:
        self._ner = ner
        self._window = window_words
        self._stop = stopwords
        self._common = common_words

    def candidates(self, text: str, taken: Sequence[Span]) -> list[Candidate]:
        words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
        inside = _Taken(taken).overlaps
        found: list[Candidate] = []
        i = 0
        while i < len(words):
            start, end, word = words[i]
            if not word[0].isupper():  # both kinds of candidate below are capitalised: most words stop here
                i += 1
                continue
            titled = i > 0 and _after_title(text, words[i - 1], start)
            name_like = titled and _is_title(word) and word.lower() in _NAME_LIKE_STOP_WORDS
            if not (self._candidate_word(word) or name_like) or inside(start, end):
                i += 1
                continue
            j, last_end, prev_end, count, prev_word = i + 1, end, end, 1, word
            while j < len(words):
                s, e, w = words[j]
                gap = text[prev_end:s]
                initial = gap == ". " and len(prev_word) == 1 and prev_word.isupper()  # Richard M. Nixon
                if (gap not in (" ", "-", " '", " ’") and not initial) or inside(s, e):
                    break
                if self._candidate_word(w) or (
                    w.lower() in _NAME_LIKE_SURNAMES and _is_title(w) and not _digit_after(text, e)
                ):
                    last_end, prev_end, count = e, e, count + 1
                elif w.lower() in _PARTICLES or len(w) == 1:  # van der, de la, van 't
                    prev_end = e
                else:
                    break
                prev_word = w
                j += 1
            while j > i + 1 and words[j - 1][1] > last_end:  # no trailing particle
                j -= 1
            before = words[i - 1][2].lower() if i > 0 else ""
            sentence_start = not titled and _at_sentence_start(text, start)
            if count == 1 and sentence_start and self._is_common(word.lower()):
                i = j
                continue
            after_idx = next((k for k in range(j, len(words)) if words[k][0] >= last_end), None)
            after = words[after_idx][2].lower() if after_idx is not None else ""
            cue = (
                titled
                or (before in _CUES_BEFORE and not _sentence_break(text, words[i - 1][1], start))
                or after in _CUES_AFTER
            )
            found.append(Candidate(start, last_end, count, cue))
            i = j
        return found

    def _is_common(self, word: str) -> bool:
        """A dictionary word, also inflected (requires, notifications, deployed, running)."""
        if not self._common:
            return False
        if word in self._common:
            return True
        for suffix, repl in (
            ("ies", "y"),
            ("es", ""),
            ("s", ""),
            ("ed", ""),
            ("ed", "e"),
            ("ing", ""),
            ("ing", "e"),
        ):
            if word.endswith(suffix) and word[: -len(suffix)] + repl in self._common:
                return True
        return False

    def _candidate_word(self, word: str) -> bool:
        lowered = word.lower()
        return len(word) >= 2 and _is_title(word) and lowered not in self._stop and lowered not in _TITLES

    def find_batch(self, texts: Sequence[str], taken: Sequence[Sequence[Span]]) -> list[list[Span]]:
        """PERSON spans for each text (``taken``: spans already found there, skipped)."""
        results: list[list[Span]] = [[] for _ in texts]
        windows: list[tuple[int, int, int]] = []  # (text index, window start, window end)
        pending: list[list[Candidate]] = [[] for _ in texts]
        for t, (text, spans) in enumerate(zip(texts, taken, strict=True)):
            for cand in self.candidates(text, spans):
                if cand.cue or cand.words >= 2:
                    results[t].append(Span(cand.start, cand.end, PERSON, 0.85 if cand.cue else 0.7))
                elif self._ner is not None:
                    pending[t].append(cand)
            for span in self._written_alone(text, spans):
                if not any(r.start < span.end and span.start < r.end for r in results[t]):
                    results[t].append(span)
                    pending[t] = [c for c in pending[t] if not (c.start < span.end and span.start < c.end)]
            windows.extend((t, s, e) for s, e in self._windows(text, pending[t]))
        if windows and self._ner is not None:
            tagged = self._ner.tag([texts[t][s:e] for t, s, e in windows])
            starts = [[c.start for c in cands] for cands in pending]  # in text order, disjoint
            for (t, offset, _), ents in zip(windows, tagged, strict=True):
                for ent_start, ent_end, label in ents:
                    if label != "PERSON":
                        continue
                    start, end = offset + ent_start, offset + ent_end
                    hit = _touching(pending[t], starts[t], start, end)
                    if hit:  # the model's entity must touch a candidate: "Email" at a line start is not one
                        start, end = min(c.start for c in hit), max(c.end for c in hit)
                        results[t].append(Span(start, end, PERSON, 0.85))
        return results

    def _written_alone(self, text: str, taken: Sequence[Span]) -> list[Span]:
        """First names after a greeting or a sign-off, or opening a signature block (see above)."""
        if "\n" not in text and "," not in text:
            return []
        inside = _Taken(taken).overlaps
        found: list[Span] = []
        for regex in (_GREETING, _SIGN_OFF):
            for m in regex.finditer(text):
                word = m.group("name").lower()
                if word in _NOT_NAMES or (word in self._stop and word not in _NAME_LIKE_STOP_WORDS):
                    continue
                if not inside(*m.span("name")):
                    found.append(Span(*m.span("name"), PERSON, 0.85))
        for m in _SIGNATURE.finditer(text):
            start, end = m.span("name")
            if not self._candidate_word(m.group("name")):
                continue
            after = m.group("next")
            if after is not None and not _signature_line(after):
                continue
            # A dictionary word alone on the last line is a heading or an interjection ("Done");
            # over a team, an address or a number it signs the message ("Malik\nLarkspur Support").
            if (after is None or not after.strip()) and self._is_common(m.group("name").lower()):
                continue
            if not inside(start, end) and not any(s.start == start for s in found):
                found.append(Span(start, end, PERSON, 0.8))
        return found

    def _windows(self, text: str, cands: Sequence[Candidate]) -> list[tuple[int, int]]:
        if not cands:
            return []
        spans: list[tuple[int, int]] = []
        for cand in cands:
            start, end = _extend(text, cand.start, -self._window), _extend(text, cand.end, self._window)
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], end))
            else:
                spans.append((start, end))
        return spans


# The line under a name in a signature: a team or company, an e-mail address, a phone number, a role;
# short, not a sentence, not code or markup.
_SIGNATURE_LINE: Final = re.compile(r"[ \t]*(?:$|[\w+(<][^\n]{0,60}$)")


def _signature_line(line: str) -> bool:
    return bool(_SIGNATURE_LINE.match(line)) and len(line.split()) <= 5


def _extend(text: str, pos: int, words: int) -> int:
    """Move ``pos`` by ``words`` words (negative: backwards), not past the line."""
    step = 1 if words > 0 else -1
    remaining, seen_word = abs(words), False
    i = pos
    while (i > 0) if step < 0 else (i < len(text)):
        ch = text[i - 1] if step < 0 else text[i]
        if ch == "\n":
            break
        if ch.isspace():
            if seen_word:
                remaining -= 1
                seen_word = False
                if remaining == 0:
                    break
        else:
            seen_word = True
        i += step
    return i


class _Taken:
    """Spans already found in a text, for overlap queries in O(log n): sorted by start, with the
    running maximum of their ends (the spans may overlap one another)."""

    def __init__(self, spans: Sequence[Span]) -> None:
        ordered = sorted((s.start, s.end) for s in spans)
        self._starts = [s for s, _ in ordered]
        self._max_end: list[int] = []
        furthest = 0
        for _, e in ordered:
            furthest = max(furthest, e)
            self._max_end.append(furthest)

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect_left(self._starts, end) - 1  # the last span that starts before ``end``
        return i >= 0 and self._max_end[i] > start


def _touching(cands: Sequence[Candidate], starts: Sequence[int], start: int, end: int) -> list[Candidate]:
    """The candidates (disjoint, in text order; ``starts`` their starts) that overlap [start, end)."""
    i = bisect_left(starts, end)  # candidates from i on start at or after ``end``
    first = i
    while first > 0 and cands[first - 1].end > start:
        first -= 1
    return list(cands[first:i])


def _after_title(text: str, previous: tuple[int, int, str], start: int) -> bool:
    """The word before ``start`` is a title, with or without its full stop: "Mr Mayers", "Mr. Mayers"."""
    return previous[2].lower() in _TITLES and text[previous[1] : start] in (" ", ". ", ".")


def _digit_after(text: str, pos: int) -> bool:
    rest = text[pos : pos + 3].lstrip()
    return bool(rest) and rest[0].isdigit()


def _at_sentence_start(text: str, pos: int) -> bool:
    i = pos - 1
    while i >= 0 and text[i] in " \"'(*-#>":
        i -= 1
    return i < 0 or text[i] in _SENTENCE_END


def _sentence_break(text: str, a: int, b: int) -> bool:
    return any(ch in _SENTENCE_END for ch in text[a:b])
