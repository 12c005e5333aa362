"""The one Kafka client builder against a real broker's SASL_SSL listener (issue 12).

The broker's TLS certificate comes from a CA made here, and the broker requires a client certificate
from that CA as well (mutual TLS); its SASL users exist for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512.
Producers, consumers and the admin client are built by ``libs.common.kafka`` from ``SharedSettings``,
exactly as the services build theirs; the sanitizer (the Faust app) runs as a real worker configured
only through the ``TUNELINE_KAFKA_*`` variables an operator would set.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from benchmarks.sanitizer_data import generate
from libs.common.kafka import (
    admin_client,
    consumer_config,
    ensure_topics,
    kafka_answers,
    kafka_problem,
    producer_config,
    wait_for_kafka,
)
from libs.common.settings import SharedSettings
from libs.devstack.kafka import KafkaConfig, KafkaProcess, SaslSslListener, resolve_kafka_jars
from libs.devstack.servers import free_port
from libs.devstack.settings import DevStackSettings
from libs.devstack.tls import LocalCa, make_local_ca
from libs.schemas import SanitizedRecord, decode
from tests.integration.pipeline_helpers import ServiceProcess, sanitizer_env

pytestmark = pytest.mark.integration

USER = "tuneline-test"
PASSWORD = f"pw-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class SecureBroker:
    sasl_ssl: str  # the bootstrap of the SASL_SSL listener
    ca: LocalCa
    workdir: Path


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A broker of this module's own with a SASL_SSL listener, always a local Java process (also
    under TUNELINE_TEST_BACKEND=docker): its TLS files and SASL users are made here, which the
    session's broker, process or container, does not have."""
    workdir = tmp_path_factory.mktemp("secure-kafka")
    ca = make_local_ca(workdir / "tls")
    listener = SaslSslListener(
        free_port(), ca.server.cert, ca.server.key, ((USER, PASSWORD),), client_ca_file=ca.ca
    )
    config = KafkaConfig(
        port=free_port(),
        controller_port=free_port(),
        data_dir=str(workdir / "kafka" / "data"),
        sasl_ssl=listener,
    )
    kafka = KafkaProcess(
        resolve_kafka_jars(DevStackSettings().cache_dir), workdir / "kafka", config, die_with_parent=True
    )
    kafka.start()
    try:
        yield SecureBroker(listener.bootstrap(config.host), ca, workdir)
    finally:
        kafka.daemon.stop()


def secure(broker: SecureBroker, mechanism: str = "SCRAM-SHA-512", **settings: Any) -> SharedSettings:
    values: dict[str, Any] = {
        "kafka_bootstrap": broker.sasl_ssl,
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": mechanism,
        "kafka_sasl_username": USER,
        "kafka_sasl_password": PASSWORD,
        "kafka_ssl_ca_file": broker.ca.ca,
        "kafka_ssl_cert_file": broker.ca.client.cert,
        "kafka_ssl_key_file": broker.ca.client.key,
        **settings,
    }
    return SharedSettings(**values)


def consume(shared: SharedSettings, topic: str, expected: int, timeout_s: float = 60) -> dict[bytes, bytes]:
    consumer = Consumer(consumer_config(shared, f"test-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([topic])
    received: dict[bytes, bytes] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while len(received) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue  # the sanitizer has not created its output topic yet
            assert error is None, error
            received[msg.key() or b""] = msg.value() or b""
    finally:
        consumer.close()
    return received


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_producer_and_consumer_round_trip_over_sasl_ssl(secure_broker: SecureBroker, mechanism: str) -> None:
    shared = secure(secure_broker, mechanism)
    assert kafka_answers(shared)
    topic = f"test.secure.{mechanism.lower()}.{uuid.uuid4().hex[:8]}"
    assert ensure_topics(shared, {topic: 2}) == [topic]

    sent = {f"key-{i}".encode(): f"value {i} over {mechanism}".encode() for i in range(50)}
    errors: list[str] = []
    producer = Producer(producer_config(shared))
    for key, value in sent.items():
        producer.produce(
            topic, key=key, value=value, on_delivery=lambda e, _m: errors.append(str(e)) if e else None
        )
    assert producer.flush(30) == 0
    assert errors == []

    assert consume(shared, topic, len(sent)) == sent


def test_a_password_read_from_a_mounted_file_authenticates(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text(PASSWORD + "\n")  # as Kubernetes mounts it, with the newline an editor adds
    shared = secure(secure_broker, kafka_sasl_password=None, kafka_sasl_password_file=secret)
    assert admin_client(shared).list_topics(timeout=20).brokers
    assert kafka_answers(shared)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_a_wrong_password_fails_with_an_authentication_error(
    secure_broker: SecureBroker, mechanism: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-" + PASSWORD
    shared = secure(secure_broker, mechanism, kafka_sasl_password=wrong)
    problem = kafka_problem(shared)
    assert problem is not None and "Authentication failed" in problem, problem
    assert not kafka_answers(shared)

    with caplog.at_level(logging.ERROR, logger="libs.common.kafka"):
        assert not wait_for_kafka(shared, timeout_s=3)
    failure = next(r for r in caplog.records if "did not answer" in r.getMessage())
    assert failure.__dict__["sasl_mechanism"] == mechanism and failure.__dict__["sasl_username"] == USER
    assert "Authentication failed" in failure.__dict__["reason"]
    assert wrong not in caplog.text and PASSWORD not in caplog.text


def test_a_broker_certificate_from_another_ca_is_refused(secure_broker: SecureBroker, tmp_path: Path) -> None:
    other = make_local_ca(tmp_path / "other-ca")
    shared = secure(secure_broker, kafka_ssl_ca_file=other.ca)
    problem = kafka_problem(shared)
    assert problem is not None and "certificate verify failed" in problem, problem
    with pytest.raises(KafkaException):
        admin_client(shared).list_topics(timeout=10)


def test_a_client_without_a_certificate_is_refused(secure_broker: SecureBroker) -> None:
    shared = secure(secure_broker, kafka_ssl_cert_file=None, kafka_ssl_key_file=None)
    problem = kafka_problem(shared)
    assert problem is not None and "SSL" in problem, problem
    assert kafka_answers(secure(secure_broker))  # the same settings with the certificate


def test_the_sanitizer_faust_worker_runs_over_sasl_ssl(secure_broker: SecureBroker, tmp_path: Path) -> None:
    """The real sanitizer worker, configured by the TUNELINE_KAFKA_* variables alone (SCRAM-SHA-512,
    the password from a mounted file, a client certificate): it waits for the broker, creates its
    topics and runs its Faust app over SASL_SSL, and every record comes out sanitized."""
    shared = secure(secure_broker)
    run = uuid.uuid4().hex[:8]
    topics = {
        "input": f"test.raw.secure.{run}",
        "by_hash_topic": f"test.by-hash.{run}",
        "output_topic": f"test.sanitized.{run}",
        "dlq_topic": f"test.sanitizer-dlq.{run}",
    }
    ensure_topics(shared, {topics["input"]: 1})
    samples = generate(12, seed=5, dup_rate=0.0, near_rate=0.0)
    producer = Producer(producer_config(shared))
    for sample in samples:
        producer.produce(
            topics["input"], key=sample.id.encode(), value=json.dumps(sample.raw_record()).encode()
        )
    assert producer.flush(30) == 0

    secret = tmp_path / "kafka-password"
    secret.write_text(PASSWORD)
    env = sanitizer_env(
        secure_broker.sasl_ssl,
        run,
        tmp_path / "faust",
        app_id=f"test-secure-{run}",
        input_topics=json.dumps([topics["input"]]),
        by_hash_topic=topics["by_hash_topic"],
        output_topic=topics["output_topic"],
        dlq_topic=topics["dlq_topic"],
    )
    env.update(
        {
            "TUNELINE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "TUNELINE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "TUNELINE_KAFKA_SASL_USERNAME": USER,
            "TUNELINE_KAFKA_SASL_PASSWORD_FILE": str(secret),
            "TUNELINE_KAFKA_SSL_CA_FILE": str(secure_broker.ca.ca),
            "TUNELINE_KAFKA_SSL_CERT_FILE": str(secure_broker.ca.client.cert),
            "TUNELINE_KAFKA_SSL_KEY_FILE": str(secure_broker.ca.client.key),
            "TUNELINE_KAFKA_WAIT_S": "60",
        }
    )
    env.pop("TUNELINE_KAFKA_SASL_PASSWORD", None)
    sanitizer = ServiceProcess("sanitizer", env, tmp_path / "sanitizer.log", tmp_path).start()
    try:
        out: dict[bytes, bytes] = {}
        deadline = time.monotonic() + 240
        while len(out) < len(samples) and time.monotonic() < deadline:
            assert sanitizer.alive(), f"the sanitizer died:\n{sanitizer.log()[-4000:]}"
            out.update(consume(shared, topics["output_topic"], len(samples), timeout_s=10))
    finally:
        sanitizer.stop()
    ids = {decode(SanitizedRecord, value).id for value in out.values()}
    assert ids == {s.id for s in samples}, sanitizer.log()[-4000:]
    assert PASSWORD not in sanitizer.log()
