"""Support tickets as question/answer pairs, generated from a seed (no I/O: ``helpdesk.py`` stores them).

Ticket ``n`` depends only on the seed, ``n`` and the customer pool size, never on how many tickets are
made, so a trickle of new tickets continues the same sequence. Each ticket is one of:

- an original: a customer describes one of the known problems (``domain.ISSUES``) in their own words,
  as an e-mail (greeting, name, account, context, sometimes an order number or an API key pasted by
  mistake, a sign-off with e-mail or phone; answered with a greeting, the problem's canonical fix and
  the agent's name) or through the contact form (the problem in a sentence, then name and e-mail or
  phone; answered with the fix first);
- an exact duplicate of an earlier ticket (the form submitted twice): same subject, question, answer;
- a near duplicate of an earlier ticket (re-filed with a small edit): same answer, a question that
  differs by a line or a word.

Originals about the same problem are kept well apart (word-shingle Jaccard below ``MAX_ORIGINAL_SIMILARITY``),
so only the intended copies look like duplicates to the sanitizer.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from examples.domain import ISSUES, SUPPORT_TEAM, Issue
from examples.people import AGENTS, Person, Planted, PlantedKind, api_key, order_number, person

DEFAULT_SEED: Final = 7
DEFAULT_CUSTOMERS: Final = 60
EXACT_DUPLICATE_RATE: Final = 0.05
NEAR_DUPLICATE_RATE: Final = 0.07
MAX_ORIGINAL_SIMILARITY: Final = 0.6
MIN_NEAR_SIMILARITY: Final = 0.95  # MinHash with 128 permutations estimates within about 0.03
WEB_FORM_RATE: Final = 0.3  # short tickets from the contact form, answered with the fix first
TICKET_SPACING: Final = dt.timedelta(minutes=37)


class TicketKind(StrEnum):
    ORIGINAL = "original"
    EXACT_DUPLICATE = "exact_duplicate"
    NEAR_DUPLICATE = "near_duplicate"


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int  # 1-based, the table's primary key
    customer: Person
    issue_code: str
    product: str
    subject: str
    question: str
    answer: str
    status: str
    priority: str
    kind: TicketKind
    duplicate_of: int | None  # the original's id, for both kinds of copies
    planted: tuple[Planted, ...]

    def row(self, updated_at: dt.datetime) -> dict[str, object]:
        return {
            "id": self.id,
            "customer_id": self.customer.index + 1,
            "subject": self.subject,
            "product": self.product,
            "error_code": self.issue_code,
            "question": self.question,
            "answer": self.answer,
            "status": self.status,
            "priority": self.priority,
            "updated_at": updated_at,
        }


_GREETINGS: Final = ("Hi support,", "Hello,", "Hi there,", "Good morning,", "Dear Larkspur team,", "Hey,")
_INTROS: Final = (
    "my name is {name} and I have an account with you ({account}).",
    "this is {name}, customer account {account}.",
    "I'm {name}, writing about account {account}.",
    "I am contacting you on behalf of my household, account {account} ({name}).",
    "{name} here (account {account}).",
)
_WHEN: Final = (
    "It started yesterday evening.",
    "This began right after the last update.",
    "It has been happening since Monday.",
    "The problem appeared this morning without any change on our side.",
    "It happens every day now, usually around lunchtime.",
    "We noticed it after moving to a new office.",
    "It came back after working fine for a week.",
)
_TRIED: Final = (
    "I already restarted everything twice.",
    "I tried turning it off and on again, no luck.",
    "Reinstalling the app did not change anything.",
    "I checked the status page and it says all systems are operational.",
    "A colleague had the same thing last month but we never found out what fixed it.",
    "I looked through the help center but could not find this code.",
    "",
)
_ASKS: Final = (
    "What should I do?",
    "Can you tell me how to fix this?",
    "Could you help me get this working again?",
    "Is there a fix for this?",
    "How do I solve this? It is quite urgent for us.",
    "Please advise.",
)
_SIGNOFFS: Final = (
    "Thanks,\n{first}\n{phone}",
    "Best regards,\n{name}\n{email} / {phone}",
    "Thank you!\n{first} ({email})",
    "Cheers,\n{name}\nPhone: {phone}",
    "Kind regards,\n{name}\nYou can call me at {phone} or write to {email}.",
)
_FORM_FOOTERS: Final = (
    "Sent from the contact form by {name} <{email}>",
    "{name}, {phone}",
    "Name: {name}\nE-mail: {email}\nPhone: {phone}",
)
_ANSWER_OPENINGS: Final = (
    "Hi {first},\n\nthanks for reaching out.",
    "Hello {first},\n\nsorry for the trouble, and thank you for the details.",
    "Thanks for contacting {team}.",
    "Hi {first},\n\nthank you for your patience.",
    "Hello,\n\nthanks for the report.",
)
_ANSWER_CLOSINGS: Final = (
    "If the problem comes back, just reply to this ticket.",
    "Let us know if anything is still not working.",
    "I'll mark this ticket as solved; a reply reopens it.",
    "We're here if you need anything else.",
)
_NEAR_EDITS: Final = ("Any update on this?", "Still happening.", "Any news?")
_STATUSES: Final = ("solved", "solved", "solved", "closed", "pending")
_PRIORITIES: Final = ("low", "normal", "normal", "high", "urgent")


def customers(seed: int = DEFAULT_SEED, count: int = DEFAULT_CUSTOMERS) -> list[Person]:
    return [person(seed, i) for i in range(count)]


class TicketGenerator:
    """Makes tickets 1, 2, 3... in order; ``take(n)`` continues where the last call stopped."""

    def __init__(self, seed: int = DEFAULT_SEED, customer_count: int = DEFAULT_CUSTOMERS) -> None:
        if customer_count < 1:
            raise ValueError("customer_count must be at least 1")
        self.seed = seed
        self.people = customers(seed, customer_count)
        self.tickets: list[Ticket] = []
        self._originals: list[Ticket] = []
        self._shingles: dict[str, list[set[str]]] = {}  # issue code -> originals' shingle sets

    def take(self, count: int) -> list[Ticket]:
        return [self._make(len(self.tickets) + 1) for _ in range(count)]

    def _make(self, ticket_id: int) -> Ticket:
        rng = random.Random(f"{self.seed}:ticket:{ticket_id}")
        roll = rng.random()
        originals = self._originals
        if len(originals) >= 5 and roll < EXACT_DUPLICATE_RATE:
            source = rng.choice(originals)
            ticket = _copy(source, ticket_id, TicketKind.EXACT_DUPLICATE, source.question)
        elif len(originals) >= 5 and roll < EXACT_DUPLICATE_RATE + NEAR_DUPLICATE_RATE:
            source = rng.choice(originals)
            ticket = _near_copy(source, ticket_id, rng)
        else:
            ticket = self._original(ticket_id, rng)
            originals.append(ticket)
        self.tickets.append(ticket)
        return ticket

    # -- originals --

    def _original(self, ticket_id: int, rng: random.Random) -> Ticket:
        # Every run of len(ISSUES) originals covers each problem once, in a seeded order: even a small
        # help desk has every problem (and the held-out questions' answers) in it.
        block, slot = divmod(len(self._originals), len(ISSUES))
        order = list(ISSUES)
        random.Random(f"{self.seed}:issues:{block}").shuffle(order)
        issue = order[slot]
        seen = self._shingles.setdefault(issue.code, [])
        for _ in range(50):  # re-draw until the text is far enough from earlier tickets on the issue
            ticket = self._draft(ticket_id, issue, rng)
            shingles = word_shingles(content_of(ticket))
            if all(jaccard(shingles, other) < MAX_ORIGINAL_SIMILARITY for other in seen):
                break
        seen.append(shingles)
        return ticket

    @staticmethod
    def _email_question(
        issue: Issue, rng: random.Random, values: dict[str, str], planted: list[Planted]
    ) -> str:
        """A ticket written as an e-mail: greeting, who, the problem, context, the ask, a sign-off."""
        signoff = rng.choice(_SIGNOFFS)
        parts = [
            rng.choice(_GREETINGS),
            rng.choice(_INTROS).format(**values),
            rng.choice(issue.symptoms),
            rng.choice(_WHEN),
            rng.choice(_TRIED),
        ]
        extra = rng.random()
        if extra < 0.25:
            order = order_number(rng)
            parts.append(f"The hardware was bought with order {order}.")
            planted.append(Planted(PlantedKind.ORDER_NUMBER, order, "helpdesk"))
        elif extra < 0.35 or (issue.code == "AP-233" and extra < 0.8):
            key = api_key(rng)
            parts.append(f"In case it helps, this is the key we use: {key}")
            planted.append(Planted(PlantedKind.API_KEY, key, "helpdesk"))
        parts.append(rng.choice(_ASKS))
        return _paragraphs(parts) + "\n\n" + signoff.format(**values)

    def _draft(self, ticket_id: int, issue: Issue, rng: random.Random) -> Ticket:
        customer = self.people[rng.randrange(len(self.people))]
        planted = [Planted(PlantedKind.NAME, customer.name, "helpdesk")]
        values = {
            "name": customer.name,
            "first": customer.first_name,
            "account": customer.account_id,
            "email": customer.email,
            "phone": customer.phone,
            "team": SUPPORT_TEAM,
        }
        agent = rng.choice(AGENTS)
        if rng.random() < WEB_FORM_RATE:  # the contact form: the problem in a line or two, then who
            question = f"{rng.choice(issue.symptoms)} {rng.choice(_ASKS)}\n\n" + rng.choice(
                _FORM_FOOTERS
            ).format(**values)
            answer = f"{issue.fix}\n\n{rng.choice(_ANSWER_CLOSINGS)}\n{SUPPORT_TEAM}"
        else:
            question = self._email_question(issue, rng, values, planted)
            answer = "\n\n".join(
                (
                    rng.choice(_ANSWER_OPENINGS).format(**values),
                    issue.fix,
                    rng.choice(_ANSWER_CLOSINGS),
                    f"{agent.split()[0]}\n{SUPPORT_TEAM}",
                )
            )
        for kind, value in (
            (PlantedKind.EMAIL, customer.email),
            (PlantedKind.PHONE, customer.phone),
            (PlantedKind.ACCOUNT_ID, customer.account_id),
        ):
            if value in question:
                planted.append(Planted(kind, value, "helpdesk"))
        text = f"{question}\n{answer}"
        for first, full in ((customer.first_name, customer.name), (agent.split()[0], agent)):
            if len(re.findall(rf"\b{first}\b", text)) > text.count(full):
                planted.append(Planted(PlantedKind.FIRST_NAME, first, "helpdesk"))
        subject = rng.choice((issue.title, f"{issue.code} on my {issue.product}", f"Problem: {issue.code}"))
        return Ticket(
            id=ticket_id,
            customer=customer,
            issue_code=issue.code,
            product=issue.product,
            subject=subject,
            question=question,
            answer=answer,
            status=rng.choice(_STATUSES),
            priority=rng.choice(_PRIORITIES),
            kind=TicketKind.ORIGINAL,
            duplicate_of=None,
            planted=tuple(planted),
        )


def _copy(
    source: Ticket, ticket_id: int, kind: TicketKind, question: str, subject: str | None = None
) -> Ticket:
    """A copy of an original ticket, filed again later (the same customer, problem and answer)."""
    return Ticket(
        id=ticket_id,
        customer=source.customer,
        issue_code=source.issue_code,
        product=source.product,
        subject=source.subject if subject is None else subject,
        question=question,
        answer=source.answer,
        status=source.status,
        priority=source.priority,
        kind=kind,
        duplicate_of=source.id,
        planted=source.planted,
    )


def _near_copy(source: Ticket, ticket_id: int, rng: random.Random) -> Ticket:
    """The original re-filed with a small edit; an edit that moves the text too far is replaced by a
    subject prefix, so every near copy stays well above the sanitizer's similarity threshold."""
    original = word_shingles(content_of(source))
    edit = rng.randrange(5)
    subject, question = source.subject, source.question
    body, sep, footer = question.rpartition("\n\n")
    if edit == 0:  # a line added
        question = f"{body}\n{rng.choice(_NEAR_EDITS)}{sep}{footer}"
    elif edit == 1:  # another greeting (e-mails) or the footer re-typed (contact form)
        first_line, _, rest = question.partition("\n")
        greetings = [g for g in _GREETINGS if g != first_line]
        question = f"{rng.choice(greetings)}\n{rest}" if first_line in _GREETINGS else f"{body}{sep}{footer}."
    elif edit == 2:  # the ask shouted
        question = f"{body.rstrip('.?!')}!!{sep}{footer}"
    elif edit == 3:  # re-typed without the line break after the first line
        question = question.replace("\n", " ", 1)
    else:
        subject = rng.choice(("Re: ", "Fwd: ", "[Resent] ")) + subject
    copy = _copy(source, ticket_id, TicketKind.NEAR_DUPLICATE, question, subject)
    if jaccard(word_shingles(content_of(copy)), original) < MIN_NEAR_SIMILARITY:
        prefix = rng.choice(("Re: ", "Fwd: ", "[Resent] "))
        copy = _copy(source, ticket_id, TicketKind.NEAR_DUPLICATE, source.question, prefix + subject)
    return copy


def _paragraphs(parts: list[str]) -> str:
    greeting, *sentences = (p for p in parts if p)
    intro, *rest = sentences
    return f"{greeting}\n{intro[0].upper()}{intro[1:]}\n" + " ".join(rest)


def content_of(ticket: Ticket) -> str:
    """The text the collector makes of a ticket row (``content_template`` in examples/sources.yaml)."""
    return f"{ticket.subject}\n\n{ticket.question}\n\n{ticket.answer}"


_WORD: Final = re.compile(r"\w+")


def word_shingles(text: str, size: int = 5) -> set[str]:
    """Lower-cased word ``size``-grams, the unit the sanitizer's near-duplicate check compares."""
    words = _WORD.findall(text.lower())
    return {" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def updated_times(anchor: dt.datetime, count: int, first_id: int = 1) -> list[dt.datetime]:
    """Timestamps for tickets ``first_id``.. ending just before ``anchor``: one every 37 minutes,
    naive UTC (what the collector's SQL cursor compares)."""
    base = anchor.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)
    last_id = first_id + count - 1
    return [base - (last_id - i + 1) * TICKET_SPACING for i in range(first_id, last_id + 1)]
