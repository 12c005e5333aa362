"""SnapshotReader's selection by feature, on pages shaped like DynamoDB's Query answers (a fake client:
the reader's real queries are covered by tests/integration/test_trainer_dynamodb.py)."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeSerializer

from libs.schemas import FeatureSelection, QualitySignals, RecordFeatures, Structure
from libs.storage.items import to_dynamo
from libs.storage.snapshot import SnapshotReader

SIGNALS = QualitySignals(
    words=10,
    mean_word_length=4.0,
    symbol_word_ratio=0.0,
    alpha_word_fraction=1.0,
    stop_words=3,
    lines=1,
    dup_line_fraction=0.0,
    top_2gram_fraction=0.0,
    dup_5gram_fraction=0.0,
    end_punct_fraction=1.0,
    boilerplate_fraction=0.0,
)


def feats(
    structure: Structure, lang: str = "en", quality: float = 1.0, tokens: int | None = 50
) -> RecordFeatures:
    return RecordFeatures(
        lang=lang, lang_score=0.99, tokens=tokens, structure=structure, quality=quality, signals=SIGNALS
    )


def item(record_id: str, features: RecordFeatures | None) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": record_id,
        "content": f"text of {record_id}",
        "fields": {},
        "ingested_at": 1000,
        "source": "support",
    }
    if features is not None:
        value["features"] = to_dynamo(features.model_dump(mode="json"))
    serialize = TypeSerializer().serialize
    return {key: serialize(to_dynamo(v) if key != "features" else v) for key, v in value.items()}


ITEMS = [
    item("qa-en", feats(Structure.QA)),
    item("qa-de", feats(Structure.QA, lang="de")),
    item("qa-poor", feats(Structure.QA, quality=0.5)),
    item("qa-long", feats(Structure.QA, tokens=900)),
    item("log", feats(Structure.LOG, lang="und")),
    item("article", feats(Structure.ARTICLE)),
    item("old", None),  # stored before the feature step
]


class FakeClient:
    """One shard holds every item; the others are empty."""

    def __init__(self) -> None:
        self.projections: list[str] = []

    def get_paginator(self, name: str) -> FakeClient:
        assert name == "query"
        return self

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.projections.append(kwargs["ProjectionExpression"])
        key = kwargs["ExpressionAttributeValues"][":shard"]["S"]
        return [{"Items": ITEMS}] if key.endswith("#000") else [{"Items": []}]


def ids(select: FeatureSelection | None) -> set[str]:
    client = FakeClient()
    records = list(SnapshotReader(client, "t-", shards=4).read("support", 2000, select))
    assert all("#features" in p for p in client.projections)
    return {r.id for r in records}


def test_no_selection_reads_every_record_with_its_features() -> None:
    client = FakeClient()
    records = {r.id: r for r in SnapshotReader(client, "t-", shards=4).read("support", 2000)}
    assert set(records) == {"qa-en", "qa-de", "qa-poor", "qa-long", "log", "article", "old"}
    assert records["qa-de"].features == feats(Structure.QA, lang="de")
    assert records["old"].features is None
    assert ids(FeatureSelection()) == set(records)  # an empty selection is no selection


def test_selection_by_structure_language_quality_and_tokens() -> None:
    assert ids(FeatureSelection(structures=[Structure.QA])) == {"qa-en", "qa-de", "qa-poor", "qa-long"}
    assert ids(FeatureSelection(structures=[Structure.QA], languages=["en"])) == {
        "qa-en",
        "qa-poor",
        "qa-long",
    }
    assert ids(FeatureSelection(min_quality=0.9)) == {"qa-en", "qa-de", "qa-long", "log", "article"}
    assert ids(FeatureSelection(max_tokens=512)) == {"qa-en", "qa-de", "qa-poor", "log", "article"}
    assert ids(FeatureSelection(structures=[Structure.LOG, Structure.ARTICLE])) == {"log", "article"}
    # Records without features never match an active selection.
    assert "old" not in ids(FeatureSelection(languages=["en", "und"]))
