"""Fictional people and secrets, generated from a seed: the personal data the example systems plant.

Everything is derived from ``random.Random(f"{seed}:<what>:<index>")``, so the n-th customer or key is
the same whatever else was generated, on every run and machine (string seeds hash with SHA-512).
Phone numbers use the 555-01xx block and e-mail domains under ``.example``, reserved for fiction.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

FIRST_NAMES: Final = (
    "Amara", "Bastian", "Chioma", "Dmitri", "Elena", "Farid", "Greta", "Hiroshi", "Ingrid", "Jamal",
    "Katarina", "Lorenzo", "Mei", "Nikolai", "Oluwaseun", "Priya", "Quentin", "Rosalind", "Santiago",
    "Tamsin", "Ulrich", "Valentina", "Wendell", "Ximena", "Yusuf", "Zofia", "Anneliese", "Bartholomew",
    "Cordelia", "Desmond", "Esperanza", "Florian", "Gwendolyn", "Horatio", "Isadora", "Jasper",
)  # fmt: skip
LAST_NAMES: Final = (
    "Okonkwo", "Lindqvist", "Marchetti", "Takahashi", "Fairbanks", "Kowalczyk", "Abernathy", "Delacroix",
    "Haverford", "Nakamura", "Oyelaran", "Petrovic", "Quinlan", "Rasmussen", "Szabo", "Thistlewood",
    "Underhill", "Villanueva", "Whitcombe", "Yilmaz", "Zielinski", "Achterberg", "Castellanos",
    "Drummond", "Eriksen", "Fitzgerald", "Gallagher", "Hollingsworth", "Ivanova", "Jablonski",
)  # fmt: skip
STREETS: Final = (
    "Juniper Lane", "Harbor View Road", "Cedar Crest Avenue", "Millbrook Street", "Old Orchard Way",
    "Lantern Hill Drive", "Foxglove Court", "Riverside Terrace", "Copperfield Road", "Wren Street",
)  # fmt: skip
CITIES: Final = (
    ("Springfield", "IL", "62704"), ("Riverton", "WY", "82501"), ("Fairview", "OR", "97024"),
    ("Greenville", "SC", "29601"), ("Madison", "WI", "53703"), ("Ashland", "KY", "41101"),
)  # fmt: skip
EMAIL_DOMAINS: Final = ("mailbox.example", "post.example", "inbox.example", "fastmail.example")
AGENTS: Final = ("Noor Halvorsen", "Teodor Brandt", "Lucia Ferreira", "Malik Osei")


class PlantedKind(StrEnum):
    NAME = "name"
    FIRST_NAME = "first_name"  # a first name written on its own ("Thanks,\nMei")
    EMAIL = "email"
    PHONE = "phone"
    ADDRESS = "address"
    ACCOUNT_ID = "account_id"
    ORDER_NUMBER = "order_number"
    API_KEY = "api_key"
    BEARER_TOKEN = "bearer_token"  # noqa: S105 - a kind, not a token
    PASSWORD = "password"  # noqa: S105 - a kind, not a password


# What the pipeline promises never to pass on: checked against the sanitized topic, the records table
# and generations. Account ids and order numbers are business identifiers the policy keeps; addresses
# are only in the customers table, which the example sources do not collect. First names on their own
# are personal too, but short ("Mei"): check them as whole words (see ``ExampleSystems.planted_values``).
SENSITIVE: Final = frozenset(
    {
        PlantedKind.NAME,
        PlantedKind.EMAIL,
        PlantedKind.PHONE,
        PlantedKind.API_KEY,
        PlantedKind.BEARER_TOKEN,
        PlantedKind.PASSWORD,
    }
)


@dataclass(frozen=True, slots=True)
class Planted:
    """A personal value or secret written into an example system, exactly as written."""

    kind: PlantedKind
    value: str
    system: str  # helpdesk | applogs | kb


@dataclass(frozen=True, slots=True)
class Person:
    index: int
    first_name: str
    last_name: str
    email: str
    phone: str
    street: str
    city: str
    account_id: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


_PHONE_FORMATS: Final = (
    "+1 ({area}) 555-01{line}",
    "{area}-555-01{line}",
    "({area}) 555-01{line}",
    "+1 {area} 555 01{line}",
    "{area}.555.01{line}",
    "+1-{area}-555-01{line}",
)


def person(seed: int, index: int) -> Person:
    """The ``index``-th customer of ``seed``; distinct indexes give distinct names and e-mails."""
    rng = random.Random(f"{seed}:person:{index}")
    # Names walk the grid so the first len(FIRST_NAMES) * len(LAST_NAMES) people are all different.
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[(index // len(FIRST_NAMES) + index * 7) % len(LAST_NAMES)]
    domain = rng.choice(EMAIL_DOMAINS)
    style = rng.randrange(3)
    local = (
        f"{first}.{last}"
        if style == 0
        else f"{first[0]}{last}{index}"
        if style == 1
        else f"{first}{index % 97}"
    )
    area = rng.choice(("212", "415", "503", "617", "312", "737", "206"))
    phone = rng.choice(_PHONE_FORMATS).format(area=area, line=f"{rng.randrange(100):02d}")
    city, state, postcode = rng.choice(CITIES)
    street = f"{rng.randrange(3, 980)} {rng.choice(STREETS)}"
    return Person(
        index=index,
        first_name=first,
        last_name=last,
        email=f"{local.lower()}@{domain}",
        phone=phone,
        street=street,
        city=f"{city}, {state} {postcode}",
        account_id=f"LL-{100000 + index * 37 + rng.randrange(30):06d}",
    )


_ALNUM: Final = string.ascii_letters + string.digits


def api_key(rng: random.Random) -> str:
    """An Aster Pay live key (``ak_live_`` + 32 characters), the kind customers paste into tickets."""
    return "ak_live_" + "".join(rng.choice(_ALNUM) for _ in range(32))


def bearer_token(rng: random.Random) -> str:
    """A JWT-shaped session token, as leaked by a debug log line."""

    def part(n: int) -> str:
        return "".join(rng.choice(_ALNUM + "-_") for _ in range(n))

    return f"eyJhbGciOiJIUzI1NiJ9.eyJ{part(40)}.{part(43)}"


def password(rng: random.Random) -> str:
    words = ("Harbor", "Maple", "Falcon", "Juniper", "Copper", "Meadow")
    return f"{rng.choice(words)}{rng.randrange(10, 99)}!{rng.choice(words).lower()}"


def order_number(rng: random.Random) -> str:
    return f"ORD-{rng.randrange(200000, 999999)}"
