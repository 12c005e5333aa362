"""The help-desk tickets: deterministic, with the duplicates the sanitizer must find and no others."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import sqlalchemy as sa

from examples.domain import ISSUES_BY_CODE, held_out_questions
from examples.helpdesk import HelpDesk
from examples.people import SENSITIVE, PlantedKind
from examples.tickets import TicketGenerator, TicketKind, content_of
from services.sanitizer.core.minhash import LshIndex, MinHasher, jaccard_estimate

ANCHOR = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_same_seed_same_tickets_and_a_prefix_whatever_the_count() -> None:
    a = TicketGenerator(seed=3).take(120)
    b = TicketGenerator(seed=3).take(120)
    assert a == b
    continued = TicketGenerator(seed=3)
    assert continued.take(50) + continued.take(70) == a  # a trickle continues the same sequence
    assert TicketGenerator(seed=4).take(120) != a


def test_every_original_teaches_the_canonical_fix_of_its_error_code() -> None:
    for ticket in TicketGenerator().take(200):
        issue = ISSUES_BY_CODE[ticket.issue_code]
        assert issue.fix in ticket.answer
        assert ticket.product == issue.product
        assert any(symptom in ticket.question for symptom in issue.symptoms)


def test_copies_look_like_duplicates_to_the_sanitizer_and_originals_do_not() -> None:
    tickets = TicketGenerator().take(300)
    kinds = {kind: [t for t in tickets if t.kind is kind] for kind in TicketKind}
    assert len(kinds[TicketKind.EXACT_DUPLICATE]) >= 5
    assert len(kinds[TicketKind.NEAR_DUPLICATE]) >= 5
    by_id = {t.id: t for t in tickets}
    hasher = MinHasher(num_perm=128, shingle_words=5)  # the sanitizer's defaults (config/sanitizer.yaml)
    for copy in kinds[TicketKind.EXACT_DUPLICATE]:
        original = by_id[copy.duplicate_of or 0]
        assert original.kind is TicketKind.ORIGINAL and original.id < copy.id
        assert content_of(copy) == content_of(original)
    for copy in kinds[TicketKind.NEAR_DUPLICATE]:
        original = by_id[copy.duplicate_of or 0]
        assert content_of(copy) != content_of(original)
        similarity = jaccard_estimate(
            hasher.signature(content_of(copy)), hasher.signature(content_of(original))
        )
        assert similarity >= 0.9, (copy.id, similarity)
    # The sanitizer's LSH index at its threshold: originals never collide with one another.
    index = LshIndex(num_perm=128, threshold=0.85, max_entries=10_000)
    for ticket in kinds[TicketKind.ORIGINAL]:
        signature = hasher.signature(content_of(ticket))
        assert index.query(signature) is None, ticket.id
        index.insert(str(ticket.id), signature)
    originals = kinds[TicketKind.ORIGINAL]
    for a, b in itertools.combinations(originals[:80], 2):
        assert content_of(a) != content_of(b)


def test_personal_data_and_keys_are_in_the_text_and_all_listed() -> None:
    tickets = TicketGenerator().take(300)
    kinds = {p.kind for t in tickets for p in t.planted}
    assert {PlantedKind.NAME, PlantedKind.EMAIL, PlantedKind.PHONE, PlantedKind.API_KEY} <= kinds
    for ticket in tickets:
        text = content_of(ticket)
        for planted in ticket.planted:
            assert planted.value in text, (ticket.id, planted)
        assert ticket.customer.name in text
    formats = {t.customer.phone[:2] for t in tickets}
    assert len(formats) >= 3  # phone numbers written several ways


def test_every_problem_appears_even_in_a_small_help_desk() -> None:
    originals = [t for t in TicketGenerator(seed=9).take(30) if t.kind is TicketKind.ORIGINAL]
    assert len(originals) >= len(ISSUES_BY_CODE)
    assert {t.issue_code for t in originals} == set(ISSUES_BY_CODE)


def test_held_out_questions_are_not_in_the_data_but_their_answers_are() -> None:
    tickets = TicketGenerator().take(400)
    questions = held_out_questions()
    assert len(questions) >= 2
    for held in questions:
        question, expected = held
        assert not any(question in t.question for t in tickets)
        assert any(expected in t.answer for t in tickets)
        assert all(phrase in expected for phrase in held.key_phrases)


def test_helpdesk_in_sqlite_with_a_trickle(tmp_path: Path) -> None:
    desk = HelpDesk(tmp_path / "helpdesk.db", seed=5)
    made = desk.create(40, anchor=ANCHOR)
    assert desk.row_count() == 40
    added = desk.add(3, now=ANCHOR + dt.timedelta(minutes=1))
    assert [t.id for t in added] == [41, 42, 43]
    engine = sa.create_engine(desk.url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, question, answer, updated_at FROM tickets ORDER BY id")).all()
        customers = conn.execute(sa.text("SELECT count(*) FROM customers")).scalar_one()
    engine.dispose()
    assert [r.id for r in rows] == list(range(1, 44))
    assert [r.question for r in rows[:40]] == [t.question for t in made]
    # Older tickets first, all before the anchor; the trickle's after it.
    stamps = [dt.datetime.fromisoformat(str(r.updated_at)) for r in rows]
    assert stamps[:40] == sorted(stamps[:40]) and stamps[39] < ANCHOR.replace(tzinfo=None) < stamps[40]
    assert customers == 60
    values = {p.value for p in desk.planted() if p.kind in SENSITIVE}
    assert values and all(any(v in r.question or v in r.answer for r in rows) for v in values)
    desk.close()
