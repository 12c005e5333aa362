"""A labelled evaluation set for the sanitizer: realistic records with every planted value's span.

Five families (support tickets, application logs, CRM rows, team chat, wiki/config snippets) in
several Faker locales, each mixing personal data and secrets with values that must survive
(timestamps, versions, durations, status codes, ticket and order numbers, hashes, hosts, paths).
Some records are exact copies of earlier ones, disguised so that only normalization finds them
(extra spaces, NFD accents, zero-width characters, CRLF); some are near copies (a few words added
or removed). Deterministic for a seed.

    .venv/bin/python -m benchmarks.sanitizer_data -n 1000 -o data.jsonl   # RawRecord JSON lines
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import random
import re
import string
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faker import Faker

from libs.pii import entities as E

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR")
B62 = string.ascii_letters + string.digits
SUBJECTS = ("Double charge", "Cannot log in", "Refund request", "Order not delivered", "Account locked")


@dataclass(frozen=True)
class Planted:
    start: int
    end: int
    entity: str


@dataclass
class Sample:
    id: str
    source: str
    kind: str
    text: str
    planted: list[Planted]
    fields: dict[str, Any] = field(default_factory=dict)
    duplicate_of: str | None = None  # exact copy (after normalization) of that sample
    near_of: str | None = None  # near copy of that sample

    def raw_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "kind": self.kind,
            "content": self.text,
            "fields": self.fields,
            "metadata": {"generator": "sanitizer_data"},
            "collected_at": "2026-01-05T10:00:00+00:00",
        }


class _Text:
    """Builds a text piece by piece, remembering where each planted value lands."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.planted: list[Planted] = []

    def say(self, text: str) -> _Text:
        text = re.sub(r"[ \t]{2,}", " ", text)  # Faker's jobs and companies hold double spaces
        if text.startswith("\n") and self.parts and self.parts[-1].endswith(" "):
            self.parts[-1] = self.parts[-1].rstrip(" ")  # keep the text normalized: no trailing spaces
            self.size = sum(len(p) for p in self.parts)
        self.parts.append(text)
        self.size += len(text)
        return self

    def pii(self, entity: str, value: str) -> _Text:
        value = re.sub(r"[ \t]{2,}", " ", value)
        self.planted.append(Planted(self.size, self.size + len(value), entity))
        return self.say(value)

    def text(self) -> str:
        return "".join(self.parts)


class Generator:
    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - test data, not secrets
        self.fakers = {loc: Faker(loc) for loc in LOCALES}
        for i, fake in enumerate(self.fakers.values()):
            fake.seed_instance(seed * 100 + i)
        self.fake = self.fakers["en_US"]

    # ---------------------------------------------------------------- values that are personal
    def locale(self) -> Faker:
        return self.fakers[self.rng.choice(LOCALES)]

    def name(self, fake: Faker | None = None) -> str:
        fake = fake or self.locale()
        return f"{fake.first_name()} {fake.last_name()}"

    def first(self, fake: Faker | None = None) -> str:
        return str((fake or self.locale()).first_name())

    def email(self, fake: Faker | None = None) -> str:
        return str((fake or self.locale()).email())

    def phone(self, fake: Faker | None = None) -> str:
        return str((fake or self.locale()).phone_number())

    def bare_phone(self) -> str:
        """A phone number written as one run of digits: US ten digits, a national number with its
        trunk 0, an international one with or without its +."""
        kind = self.rng.randrange(4)
        if kind == 0:
            return str(self.rng.randrange(2 * 10**9, 10**10))
        if kind == 1:
            return "0" + str(self.rng.randrange(10**8, 10**10))
        prefix = self.rng.choice(["447", "4915", "336", "55119", "3933", "316"])
        number = prefix + "".join(self.rng.choice(string.digits) for _ in range(12 - len(prefix) + 1))
        return ("+" if kind == 2 else "") + number

    def phone_cue(self) -> str:
        return self.rng.choice(
            [
                "You can reach me at ",
                "Call me on ",
                "my cell is ",
                "WhatsApp: ",
                "Text me at ",
                "best number to call: ",
                "Mobile ",
                "My phone number is ",
                "reach me anytime on ",
                "Tel. ",
            ]
        )

    def digit_decoy(self) -> str:
        """Digit runs next to phone-like words that are not phone numbers."""
        digits = str(self.rng.randrange(2 * 10**9, 10**10))
        return self.rng.choice(
            [
                f"Order number {digits} is the one.",
                f"I called about ticket {digits} last week.",
                f"The call started at {self.rng.randrange(1_700_000_000_000, 1_800_000_000_000)}.",
                f"Phone sync ran at {self.rng.randrange(1_700_000_000, 1_800_000_000)}.",
                f"Invoice {digits} is attached.",
                f"Tracking number {digits} shows no movement.",
                f"My account id {digits} is on the invoice.",
            ]
        )

    def card(self) -> str:
        number = str(
            self.fake.credit_card_number(card_type=self.rng.choice(["visa16", "mastercard", "amex"]))
        )
        if self.rng.random() < 0.3 and len(number) == 16:
            number = " ".join(number[i : i + 4] for i in range(0, 16, 4))
        return number

    def iban(self) -> str:
        fake = self.fakers[self.rng.choice(["de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "en_GB"])]
        value = str(fake.iban())
        if self.rng.random() < 0.3:
            value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    def ip(self) -> str:
        return str(self.fake.ipv4_public() if self.rng.random() < 0.6 else self.fake.ipv6())

    def ssn(self) -> str:
        return str(self.fake.ssn())

    def token(self, n: int, alphabet: str = B62) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def secret(self) -> tuple[str, str]:
        kind = self.rng.randrange(8)
        if kind == 0:
            return E.GITHUB_TOKEN, "ghp_" + self.token(36)
        if kind == 1:
            return E.SLACK_TOKEN, f"xoxb-{self.rng.randrange(10**11, 10**12)}-{self.token(24)}"
        if kind == 2:
            return E.STRIPE_KEY, self.rng.choice(["sk_live_", "rk_live_", "sk_test_"]) + self.token(24)
        if kind == 3:
            return E.JWT, self.jwt()
        if kind == 4:
            return E.AWS_ACCESS_KEY, "AKIA" + self.token(16, string.ascii_uppercase + string.digits)
        if kind == 5:
            return E.AWS_SECRET_KEY, self.token(40, B62 + "/+")
        if kind == 6:
            return E.GOOGLE_API_KEY, "AIza" + self.token(35, B62 + "-_")
        return E.SECRET, self.token(self.rng.randrange(24, 48))

    def jwt(self) -> str:
        def b64(obj: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        header = b64({"alg": "HS256", "typ": "JWT"})
        payload = b64({"sub": str(self.rng.randrange(10**6)), "iat": 1700000000 + self.rng.randrange(10**6)})
        return f"{header}.{payload}.{self.token(43, B62 + '-_')}"

    def password(self) -> str:
        return str(
            self.locale().password(length=self.rng.randrange(10, 18), special_chars=self.rng.random() < 0.5)
        )

    def private_key(self) -> str:
        body = "\n".join(self.token(64, B62 + "+/") for _ in range(4))
        kind = self.rng.choice(["RSA ", "EC ", "OPENSSH ", ""])
        return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"

    # ---------------------------------------------------------------- values that must survive
    def when(self) -> dt.datetime:
        return dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=self.rng.randrange(3 * 10**7))

    def timestamp(self) -> str:
        t = self.when()
        style = self.rng.randrange(4)
        if style == 0:
            return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if style == 1:
            return t.strftime("%Y-%m-%d %H:%M:%S")
        if style == 2:
            return t.strftime("%d/%b/%Y:%H:%M:%S +0000")
        return t.strftime("%b %d %H:%M:%S")

    def version(self) -> str:
        v = f"{self.rng.randrange(0, 5)}.{self.rng.randrange(0, 30)}.{self.rng.randrange(0, 40)}"
        return self.rng.choice([v, "v" + v, v + "-rc1", v + f"+build.{self.rng.randrange(999)}"])

    def duration(self) -> str:
        return self.rng.choice(
            [
                f"{self.rng.randrange(1, 5000)}ms",
                f"{self.rng.uniform(0.1, 90):.2f}s",
                f"{self.rng.randrange(1, 59)}m",
            ]
        )

    def ticket(self) -> str:
        return self.rng.choice(
            [
                f"INC-{self.rng.randrange(10000, 99999)}",
                f"JIRA-{self.rng.randrange(100, 9999)}",
                f"#{self.rng.randrange(1000, 999999)}",
                f"SUP-{self.rng.randrange(1000, 99999)}",
            ]
        )

    def order(self) -> str:
        return self.rng.choice(
            [
                f"ORD-{self.rng.randrange(2020, 2027)}-{self.rng.randrange(10000, 99999)}",
                str(self.rng.randrange(10**9, 10**10)),
                f"PO{self.rng.randrange(100000, 999999)}",
            ]
        )

    def status(self) -> str:
        return str(self.rng.choice([200, 201, 204, 301, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504]))

    def sha(self) -> str:
        return self.token(40, "0123456789abcdef")

    def host(self) -> str:
        return self.rng.choice(
            ["db-01.internal", "api.prod.local", "cache-3", "payments-7d9f8c6b5-x2x9z", "kafka-2:9092"]
        )

    def path(self) -> str:
        return self.rng.choice(
            ["/api/v2/orders/", "/api/v1/users/", "/checkout/session/", "/internal/health", "/v3/invoices/"]
        ) + str(self.rng.randrange(1, 99999))

    def service(self) -> str:
        return self.rng.choice(
            ["billing", "checkout", "auth", "search", "inventory", "notifications", "gateway"]
        )

    # ---------------------------------------------------------------- families
    def ticket_record(self) -> tuple[str, str, _Text, dict[str, Any]]:
        fake = self.locale()
        t = _Text()
        customer, agent = self.name(fake), self.name()
        t.say(f"Subject: {self.rng.choice(SUBJECTS)} ({self.ticket()})\n")
        opener = self.rng.randrange(7)
        if opener == 0:
            t.say("Hi ").pii(E.PERSON, agent.split()[0]).say(",\n")
        elif opener == 1:
            t.say("Dear ").pii(E.PERSON, agent).say(",\n")
        elif opener == 2:
            t.say("Hello team,\n")
        elif opener == 4:
            t.say("Hello ").pii(E.PERSON, agent.split()[0]).say("\n")
        elif opener == 5:
            t.say(self.rng.choice(["Hi there,\n", "Dear customer,\n", "Hello all,\n"]))
        t.say(self.rng.choice(["Customer ", "Our client ", "", "The account holder "]))
        t.pii(E.PERSON, customer).say(" (").pii(E.EMAIL, self.email(fake)).say(", ").pii(
            E.PHONE, self.phone(fake)
        )
        t.say(f") says that order {self.order()} placed on {self.when():%Y-%m-%d} ")
        if self.rng.random() < 0.5:
            t.say("was charged twice to card ").pii(E.CREDIT_CARD, self.card()).say(". ")
        else:
            t.say("was never delivered. Refund to IBAN ").pii(E.IBAN, self.iban()).say(" please. ")
        t.say(
            f"The checkout page returned HTTP {self.status()} after {self.duration()} "
            f"and the app version is {self.version()}. "
        )
        if self.rng.random() < 0.5:
            t.say("I spoke with ").pii(E.PERSON, self.name()).say(" from billing, who confirmed the issue. ")
        elif self.rng.random() < 0.3:
            t.say("The refund was approved by ").pii(E.PERSON, self.first()).say(" in finance. ")
        if self.rng.random() < 0.3:
            t.say("Their SSN on file is ").pii(E.US_SSN, self.ssn()).say(". ")
        if self.rng.random() < 0.5:
            t.say(self.phone_cue()).pii(E.PHONE, self.bare_phone()).say(". ")
        if self.rng.random() < 0.4:
            t.say(self.digit_decoy() + " ")
        sign = self.rng.randrange(6)
        if sign == 0:
            t.say(self.rng.choice(["\nThanks,\n", "\nBest regards,\n", "\nCheers, "])).pii(E.PERSON, agent)
        elif sign in (1, 2):
            t.say(self.rng.choice(["\nThanks,\n", "\nBest regards,\n", "\nCheers, ", "\nKind regards,\n"]))
            t.pii(E.PERSON, agent.split()[0])
        elif sign == 3:
            t.say("\n\n").pii(E.PERSON, agent.split()[0]).say("\n")
            t.say(self.rng.choice(["Customer Care", "Billing Support", "Helpdesk", "Acme Support team"]))
        elif sign == 4:
            t.say("\nThank you!\n").pii(E.PERSON, agent.split()[0]).say(" (").pii(E.EMAIL, self.email()).say(
                ")"
            )
        else:
            t.say(self.rng.choice(["\nThanks,\nThe support team", "\nBest regards,\nCustomer Care"]))
        return "support", "http", t, {"priority": self.rng.choice(["low", "high"]), "status": "open"}

    def log_record(self) -> tuple[str, str, _Text, dict[str, Any]]:
        t = _Text()
        for _ in range(self.rng.randrange(2, 5)):
            level = self.rng.choice(["INFO", "WARN", "ERROR", "DEBUG"])
            t.say(
                f"{self.timestamp()} {level} [{self.service()}] "
                f"req={uuid.UUID(int=self.rng.getrandbits(128))} "
            )
            kind = self.rng.randrange(7)
            if kind == 0:
                t.say(f"GET {self.path()} {self.status()} {self.duration()} client=").pii(
                    E.IP_ADDRESS, self.ip()
                )
                t.say(" user=").pii(E.EMAIL, self.email())
            elif kind == 1:
                scheme = self.rng.choice(["postgres", "mysql", "mongodb", "redis", "amqp"])
                user = self.rng.choice(["admin", "app", "svc_billing", "root"])
                t.say(f"connection failed dsn={scheme}://").pii(
                    E.URL_CREDENTIALS, f"{user}:{self.password_urlsafe()}"
                )
                t.say(f"@{self.host()}/app retry in {self.duration()}")
            elif kind == 2:
                entity, value = self.secret()
                t.say(self.rng.choice(["auth header=Bearer ", "using token ", "api_key=", "token: "])).pii(
                    entity, value
                )
                t.say(f" for {self.service()} v{self.version().lstrip('v')}")
            elif kind == 3:
                t.say("login ok for ").pii(E.PERSON, self.name()).say(" from ").pii(E.IP_ADDRESS, self.ip())
                t.say(f" session took {self.duration()}")
            elif kind == 4:
                t.say(
                    f"deployed commit {self.sha()} build {self.rng.randrange(1000, 99999)} "
                    f"to {self.host()} in {self.duration()}"
                )
            elif kind == 5:
                t.say("config reload password=").pii(E.PASSWORD, self.password_plain()).say(
                    f" pool_size={self.rng.randrange(2, 64)}"
                )
            else:
                t.say(f"payment {self.order()} failed status={self.status()} card=").pii(
                    E.CREDIT_CARD, self.card()
                )
                t.say(f" latency={self.duration()}")
            t.say("\n")
        return "app-logs", "log", t, {"host": self.host(), "level": "INFO"}

    def password_plain(self) -> str:
        return self.token(self.rng.randrange(8, 16), B62 + "!#$%*-_.")

    def password_urlsafe(self) -> str:
        return self.token(self.rng.randrange(8, 16), B62 + "-_.~")

    def crm_record(self) -> tuple[str, str, _Text, dict[str, Any]]:
        fake = self.locale()
        t = _Text()
        name, email, phone = self.name(fake), self.email(fake), self.phone(fake)
        company = str(fake.company())
        t.say(f"Account {self.rng.randrange(10000, 99999)}: ").pii(E.PERSON, name)
        t.say(f", {fake.job()} at {company}. Email ").pii(E.EMAIL, email).say(", phone ").pii(E.PHONE, phone)
        t.say(f". Plan {self.rng.choice(['Pro', 'Team', 'Enterprise'])}, renewal on {self.when():%Y-%m-%d}, ")
        t.say(f"{self.rng.randrange(1, 500)} seats. ")
        if self.rng.random() < 0.5:
            t.say("Billing IBAN ").pii(E.IBAN, self.iban()).say(". ")
        t.say("Notes: ").say(
            self.rng.choice(
                [
                    "prefers email contact, interested in SSO.",
                    "renewal call scheduled, asked about the API rate limits.",
                    "complained about latency in the EU region.",
                ]
            )
        )
        if self.rng.random() < 0.4:
            t.say(" Account manager: ").pii(E.PERSON, self.name())
        fields = {"customer_name": name, "email": email, "phone": phone, "company": company, "seats": 12}
        return "crm", "sql", t, fields

    def chat_record(self) -> tuple[str, str, _Text, dict[str, Any]]:
        t = _Text()
        a, b = self.name(), self.name()
        for i in range(self.rng.randrange(2, 4)):
            speaker = a if i % 2 == 0 else b
            t.say(f"[{self.when():%H:%M}] ").pii(E.PERSON, speaker).say(": ")
            line = self.rng.randrange(6)
            if line == 0:
                t.say(
                    f"the deploy of {self.service()} {self.version()} failed with {self.status()}, "
                    f"see {self.ticket()}"
                )
            elif line == 1:
                t.say("can you ping ").pii(E.PERSON, self.name()).say(" about the outage?")
            elif line == 2:
                if self.rng.random() < 0.5:
                    t.say("my number is ").pii(E.PHONE, self.phone()).say(" if you need me")
                else:
                    t.say(self.phone_cue().lower()).pii(E.PHONE, self.bare_phone()).say(" if you need me")
            elif line == 3:
                t.say("here is the staging key ").pii(*self.secret()).say(" rotate it after")
            elif line == 4 and self.rng.random() < 0.5:
                t.pii(E.PERSON, self.first()).say(
                    self.rng.choice(
                        [
                            " will take over the on-call rotation tomorrow",
                            " is out today, so the review moves to Friday",
                            " already restarted the consumer group",
                        ]
                    )
                )
            elif line == 4:
                t.say(
                    f"latency is back to {self.duration()} p99 since {self.when():%H:%M}, "
                    f"closing {self.ticket()}"
                )
            else:
                t.say("sent the invoice to ").pii(E.EMAIL, self.email()).say(f" for order {self.order()}")
            t.say("\n")
        return "chat", "http", t, {"channel": "#ops"}

    def wiki_record(self) -> tuple[str, str, _Text, dict[str, Any]]:
        t = _Text()
        svc = self.service()
        t.say(
            f"## {svc.title()} service setup\nRequires version {self.version()} or later. "
            f"Timeout {self.duration()}, retries 3.\n"
        )
        t.say("```\nexport AWS_ACCESS_KEY_ID=").pii(
            E.AWS_ACCESS_KEY, "AKIA" + self.token(16, string.ascii_uppercase + string.digits)
        )
        t.say("\nexport AWS_SECRET_ACCESS_KEY=").pii(E.AWS_SECRET_KEY, self.token(40, B62 + "/+"))
        scheme = self.rng.choice(["postgresql", "mysql", "mongodb+srv"])
        t.say(f"\nDATABASE_URL={scheme}://").pii(E.URL_CREDENTIALS, f"{svc}:{self.password_urlsafe()}").say(
            f"@{self.host()}/{svc}"
        )
        if self.rng.random() < 0.5:
            t.say("\nSLACK_TOKEN=").pii(
                E.SLACK_TOKEN, f"xoxb-{self.rng.randrange(10**11, 10**12)}-{self.token(24)}"
            )
        if self.rng.random() < 0.5:
            t.say('\nsmtp_password: "').pii(E.PASSWORD, self.password()).say('"')
        t.say("\n```\n")
        if self.rng.random() < 0.3:
            t.say("Deploy key:\n").pii(E.PRIVATE_KEY, self.private_key()).say("\n")
        t.say("Maintainer: ").pii(E.PERSON, self.name()).say(" <").pii(E.EMAIL, self.email()).say(">\n")
        t.say(f"Last reviewed {self.when():%Y-%m-%d}, see {self.ticket()}.")
        return "wiki", "http", t, {"space": "ENG", "page_version": self.rng.randrange(1, 40)}

    # ---------------------------------------------------------------- the set
    def sample(self, index: int) -> Sample:
        families: list[Callable[[], tuple[str, str, _Text, dict[str, Any]]]] = [
            self.ticket_record,
            self.log_record,
            self.crm_record,
            self.chat_record,
            self.wiki_record,
        ]
        source, kind, t, fields = families[index % len(families)]()
        return Sample(f"{source}:{index:07d}", source, kind, t.text(), t.planted, fields)

    def disguise(self, text: str) -> str:
        """The same text after normalization, but not byte-equal before it."""
        choice = self.rng.randrange(4)
        if choice == 0:
            return text.replace(" ", "  ", 3) + "  "
        if choice == 1:
            return unicodedata.normalize("NFD", text) + "\u200b"
        if choice == 2:
            return text.replace("\n", "\r\n") + "\t"
        return " " + text.replace(". ", ".\u00a0", 2)

    def near(self, text: str) -> str:
        words = text.split(" ")
        if self.rng.random() < 0.5:
            return (
                text + " " + self.rng.choice(["(updated)", "Thanks again.", "Sent from my phone", "- edited"])
            )
        return " ".join(words[: len(words) - self.rng.randrange(1, 3)])


def generate(n: int, seed: int = 7, dup_rate: float = 0.1, near_rate: float = 0.05) -> list[Sample]:
    """``n`` samples: unique ones plus about ``dup_rate`` exact and ``near_rate`` near copies."""
    gen = Generator(seed)
    samples: list[Sample] = []
    uniques: list[Sample] = []
    for i in range(n):
        roll = gen.rng.random()
        if uniques and roll < dup_rate:
            original = gen.rng.choice(uniques)
            samples.append(
                Sample(
                    f"{original.source}:{i:07d}",
                    original.source,
                    original.kind,
                    gen.disguise(original.text),
                    [],
                    dict(original.fields),
                    duplicate_of=original.id,
                )
            )
            continue
        candidates = [u for u in uniques[-200:] if len(u.text.split()) >= 40]
        if candidates and roll < dup_rate + near_rate:
            original = gen.rng.choice(candidates)
            samples.append(
                Sample(
                    f"{original.source}:{i:07d}",
                    original.source,
                    original.kind,
                    gen.near(original.text),
                    [],
                    dict(original.fields),
                    near_of=original.id,
                )
            )
            continue
        sample = gen.sample(i)
        samples.append(sample)
        uniques.append(sample)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=1000, help="records (default 1000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("-o", "--output", type=Path, required=True, help="RawRecord JSON lines")
    args = parser.parse_args()
    with args.output.open("w", encoding="utf-8") as out:
        for sample in generate(args.n, args.seed):
            out.write(json.dumps(sample.raw_record(), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
