"""Planted values of the example help desk (examples/tickets.py) that the offline detector leaves.

Generates ``-n`` tickets, runs the same ``Detector`` as ``tuneline sanitize`` (patterns, names, the
spaCy model) over each ticket's text, replaces what it found, and counts per planted kind the values
still there (first names as whole words: "Mei" is not in "Meissner").

    .venv/bin/python -m benchmarks.pii_examples -n 300 --show 5
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

from benchmarks.sanitizer_common import DEFAULT_MODEL, say
from examples.people import PlantedKind
from examples.tickets import TicketGenerator, content_of
from libs.pii.detect import Detector
from libs.pii.policy import NamesPolicy
from libs.pii.spacy_ner import SpacyNerTagger
from services.sanitizer.core.policy import SanitizerPolicy

KINDS = (PlantedKind.NAME, PlantedKind.FIRST_NAME, PlantedKind.EMAIL, PlantedKind.PHONE)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=300, help="tickets (default 300)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--show", type=int, default=0, help="print up to N leaks with their context")
    args = parser.parse_args()

    tickets = TicketGenerator().take(args.n)
    texts = [content_of(t) for t in tickets]
    ner = SpacyNerTagger.load(args.model)
    detector = Detector(SanitizerPolicy(names=NamesPolicy(model=args.model)), ner)
    planted: Counter[str] = Counter()
    leaked: Counter[str] = Counter()
    shown = 0
    for ticket, text, spans in zip(tickets, texts, detector.detect_batch(texts), strict=True):
        parts, last = [], 0
        for span in spans:
            parts += [text[last : span.start], "<X>"]
            last = span.end
        clean = "".join(parts) + text[last:]
        for p in ticket.planted:
            if p.kind not in KINDS:
                continue
            planted[p.kind] += 1
            if p.kind == PlantedKind.FIRST_NAME:
                hit = re.search(rf"\b{re.escape(p.value)}\b", clean)
                at = hit.start() if hit else -1
            else:
                at = clean.find(p.value)
            if at >= 0:
                leaked[p.kind] += 1
                if shown < args.show:
                    shown += 1
                    say(f"LEAK {p.kind:<11} {clean[max(0, at - 60) : at + 30]!r}")
    say(f"{'kind':<12}{'planted':>8}{'leaked':>8}")
    for kind in KINDS:
        say(f"{kind:<12}{planted[kind]:>8}{leaked[kind]:>8}")


if __name__ == "__main__":
    main()
