from __future__ import annotations

import pytest

from libs.schemas import Table, raw_topic, stable_record_id, table_name


def test_raw_topic_and_table_names_follow_the_design() -> None:
    assert raw_topic("crm-db") == "raw.crm-db"
    assert table_name(Table.RECORDS) == "tuneline-records"
    assert table_name(Table.RUNS, prefix="staging-") == "staging-runs"


@pytest.mark.parametrize("bad", ["", "CRM", "has space", "dlq", "dlq.sanitizer", "a/b", "x" * 201, "-lead"])
def test_invalid_source_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid source name"):
        raw_topic(bad)


def test_stable_record_id_depends_only_on_source_and_key() -> None:
    assert stable_record_id("crm", "42") == stable_record_id("crm", "42")
    assert stable_record_id("crm", "42") != stable_record_id("crm", "43")
    assert stable_record_id("crm", "42") != stable_record_id("billing", "42")
    assert stable_record_id("crm", "42").startswith("crm:")
