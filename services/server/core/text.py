"""Turning generated token ids into text as they arrive: a client must never see half a character or
the start of a stop string that is then cut off."""

from __future__ import annotations

from collections.abc import Callable, Sequence

REPLACEMENT = "\ufffd"  # what a tokenizer decodes an incomplete UTF-8 sequence to


class TextAssembler:
    """Accumulates one completion's tokens; ``push`` returns the text that is safe to send now.

    Text is held back while it ends in an incomplete character, or in a prefix of a stop string; once a
    stop string appears, the text before it is released and the completion is done.
    """

    def __init__(self, decode: Callable[[Sequence[int]], str], stop: Sequence[str] = ()) -> None:
        self._decode = decode
        self._stop = tuple(stop)
        self._ids: list[int] = []
        self._sent = 0  # characters of the decoded text already released
        self.text = ""
        self.stopped = False

    @property
    def tokens(self) -> int:
        return len(self._ids)

    def push(self, token_id: int) -> str:
        if self.stopped:
            return ""
        self._ids.append(token_id)
        self.text = self._decode(self._ids)
        return self._release(final=False)

    def finish(self) -> str:
        """The rest of the text (an incomplete last character stays as decoded) at the end."""
        return "" if self.stopped else self._release(final=True)

    def _release(self, final: bool) -> str:
        text = self.text
        for stop in self._stop:
            at = text.find(stop, max(0, self._sent - len(stop) + 1))
            if at != -1:
                self.stopped = True
                self.text = text[:at]
                return self._cut(at)
        end = len(text)
        if not final:
            if text.endswith(REPLACEMENT):
                end = len(text.rstrip(REPLACEMENT))
            end = min(end, *(self._partial_stop_start(text, s) for s in self._stop)) if self._stop else end
        return self._cut(max(end, self._sent))

    def _cut(self, end: int) -> str:
        out = self.text[self._sent : end] if end > self._sent else ""
        self._sent = max(self._sent, end)
        return out

    @staticmethod
    def _partial_stop_start(text: str, stop: str) -> int:
        """Where a prefix of ``stop`` that ends ``text`` starts (len(text) when none does)."""
        for size in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:size]):
                return len(text) - size
        return len(text)
