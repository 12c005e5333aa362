from __future__ import annotations

import re
from collections.abc import Callable

from libs.pii.detect import Detector
from libs.schemas import RawRecord
from services.sanitizer.adapters.presidio import PresidioReplacer
from services.sanitizer.core.anonymize import PiiAnonymizer
from services.sanitizer.core.pipeline import Dropped, Work
from services.sanitizer.core.policy import SanitizerPolicy
from tests.unit.sanitizer.conftest import KEYS, FakeNer

POLICY = SanitizerPolicy.model_validate(
    {
        "fields": {
            "*": {"*_id": "keep"},
            "crm": {
                "customer_name": "PERSON",
                "ssn": "drop",
                "card": {"action": "replace", "entity": "CREDIT_CARD", "operator": "mask"},
                "profile.notes": "scan",
                "tier": "keep",
            },
        }
    }
)


def anonymizer(ner: FakeNer | None = None) -> PiiAnonymizer:
    return PiiAnonymizer(
        Detector(POLICY, ner or FakeNer()), PresidioReplacer(POLICY.anonymize, KEYS), POLICY, "test-k1"
    )


def test_content_and_fields_follow_their_policies(make_record: Callable[..., RawRecord]) -> None:
    record = make_record(
        "Dear Jean Dupont, we mailed jean@corp.fr about card 4111111111111111.",
        source="crm",
        fields={
            "customer_name": "Jean Dupont",
            "customer_id": "C-881",
            "ssn": "123-45-6789",
            "card": "4111111111111111",
            "tier": "gold",
            "profile": {"notes": "call +33 6 86 91 25 98 after 5pm", "tags": ["vip", "mail jean@corp.fr"]},
            "seats": 12,
        },
    )
    (out,) = anonymizer().process_batch([Work.of(record)])
    assert isinstance(out, Work)
    assert "Jean" not in out.content and "jean@corp.fr" not in out.content and "4111" not in out.content
    assert re.search(r"<PERSON_[0-9a-f]{8}>", out.content)
    fields = out.fields
    assert fields["customer_name"] == re.search(r"<PERSON_[0-9a-f]{8}>", out.content).group()  # type: ignore[union-attr]
    assert fields["customer_id"] == "C-881" and fields["tier"] == "gold" and fields["seats"] == 12
    assert "ssn" not in fields
    assert fields["card"] == "************1111"
    profile = fields["profile"]
    assert isinstance(profile, dict)
    assert "86 91" not in str(profile["notes"]) and "<PHONE_" in str(profile["notes"])
    assert profile["tags"] == ["vip", out.content.split("mailed ")[1].split(" ")[0].join(["mail ", ""])]
    assert out.pii == {"PERSON": 2, "EMAIL": 2, "CREDIT_CARD": 2, "PHONE": 1}
    assert out.metadata["pseudonym_key_id"] == "test-k1"


def test_a_failing_recognizer_dead_letters_only_its_record(make_record: Callable[..., RawRecord]) -> None:
    step = anonymizer(FakeNer(fail_on="Poison"))
    good = [Work.of(make_record(f"the Gateway record {i} is fine")) for i in range(3)]
    bad = Work.of(make_record("the Poison record breaks the model"))
    outcomes = step.process_batch([good[0], bad, good[1], good[2]])
    assert [type(o).__name__ for o in outcomes] == ["Work", "Dropped", "Work", "Work"]
    dropped = outcomes[1]
    assert isinstance(dropped, Dropped)
    assert dropped.dead_letter and dropped.reason == "recognizer_error" and dropped.detail == "RuntimeError"
    assert step.process_batch([bad])[0] == Dropped(bad.record, "recognizer_error", "RuntimeError", True)


def test_failed_batch_leaves_records_untouched(make_record: Callable[..., RawRecord]) -> None:
    step = anonymizer(FakeNer(fail_on="Poison"))
    work = Work.of(
        make_record("we saw the Poison here", source="crm", fields={"customer_name": "Jean Dupont"})
    )
    step.process_batch([work])
    assert work.fields == {"customer_name": "Jean Dupont"} and not work.pii


def test_a_list_of_objects_is_sanitized_not_dead_lettered(make_record: Callable[..., RawRecord]) -> None:
    record = make_record("an order with items", source="crm", fields={"items": [{"k": "v", "n": "jo@x.io"}]})
    (out,) = anonymizer().process_batch([Work.of(record)])
    assert isinstance(out, Work)  # was recognizer_error / AssertionError
    items = out.fields["items"]
    assert isinstance(items, list) and len(items) == 1
    item = items[0]
    assert (
        isinstance(item, dict) and item["k"] == "v" and re.fullmatch(r"<EMAIL_[0-9a-f]{8}>", str(item["n"]))
    )
    assert out.pii == {"EMAIL": 1}
