"""Every Kafka client in the codebase gets its settings from ``libs.common.kafka`` (issue 12): no
``Producer({...})``, ``Consumer({...})`` or ``AdminClient({...})`` with a literal configuration, no
``"bootstrap.servers"`` written anywhere else, and every Faust app takes its broker and credentials
from the builder. A client built any other way would ignore the TLS and SASL settings."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[3]
FOLDERS = ("services", "libs", "examples", "benchmarks", "tests", "scripts")
BUILDER = ROOT / "libs" / "common" / "kafka.py"
THIS = Path(__file__)
# The builder's own unit test spells out the librdkafka keys it expects (it builds no client).
MAPPING_TEST = THIS.parent / "test_kafka_config.py"

LITERAL_CLIENT = re.compile(r"\b(Producer|Consumer|AdminClient)\(\s*(\{|dict\()")
BOOTSTRAP_KEY = re.compile(r"""["']bootstrap\.servers["']""")
FAUST_APP = re.compile(r"\bfaust\.App\(")


def sources() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py") if p not in (BUILDER, THIS))


def test_the_patterns_find_what_they_look_for() -> None:
    assert LITERAL_CLIENT.search('Producer({"bootstrap.servers": b})')
    assert LITERAL_CLIENT.search("Consumer(\n    {\n")
    assert LITERAL_CLIENT.search("AdminClient(dict(x))")
    assert not LITERAL_CLIENT.search("Producer(producer_config(shared))")
    assert BOOTSTRAP_KEY.search("{'bootstrap.servers': x}")


def test_no_kafka_client_is_configured_outside_the_builder() -> None:
    stray = []
    for path in sources():
        text = path.read_text(errors="replace")
        for pattern in (LITERAL_CLIENT,) if path == MAPPING_TEST else (LITERAL_CLIENT, BOOTSTRAP_KEY):
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                stray.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)!r}")
    assert not stray, "build Kafka clients with libs.common.kafka (client_config & co):\n" + "\n".join(stray)


def test_every_faust_app_takes_its_broker_and_credentials_from_the_builder() -> None:
    apps = []
    for path in sources():
        text = path.read_text(errors="replace")
        for match in FAUST_APP.finditer(text):
            call = text[match.end() : text.find("\n)", match.end())]
            apps.append(path.relative_to(ROOT))
            assert "broker=faust_broker(" in call, f"{path}: faust.App without broker=faust_broker(...)"
            assert "broker_credentials=faust_credentials(" in call, f"{path}: faust.App without credentials"
    assert apps, "the sanitizer's Faust app was not found: the check above checked nothing"


def test_every_service_waits_for_kafka_at_start_with_the_one_setting() -> None:
    """``wait_for_kafka(shared)``: TUNELINE_KAFKA_WAIT_S, no per-service timeout of its own."""
    mains = sorted((ROOT / "services").glob("*/__main__.py"))
    assert {p.parent.name for p in mains} == {
        "collector",
        "sanitizer",
        "writer",
        "trainer",
        "evaluator",
        "server",
    }
    for path in mains:
        calls = re.findall(r"wait_for_kafka\(([^)]*)\)", path.read_text())
        assert calls == ["shared"], f"{path.relative_to(ROOT)}: {calls}"
