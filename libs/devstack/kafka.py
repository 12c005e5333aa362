"""Apache Kafka from the official jars on Maven Central, run in KRaft mode on Java 17."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from libs.devstack.errors import InstallError, StartError
from libs.devstack.probes import kafka_answers, wait_until
from libs.devstack.process import DaemonProcess
from libs.devstack.settings import KAFKA_VERSION, LOG4J_VERSION

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.tuneline</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>{kafka}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

LOG4J2_PROPERTIES = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka.server.KafkaRaftServer
logger.kafka.level = info
"""


def resolve_kafka_jars(cache_dir: Path, version: str = KAFKA_VERSION) -> Path:
    """Resolve ``kafka_2.13`` and its runtime dependencies with Maven into the cache, once.

    Returns the folder of jars. Idempotent: a completed folder is reused without calling Maven.
    """
    home = cache_dir / "kafka" / version
    libs = home / "libs"
    done = home / ".complete"
    if done.exists():
        return libs
    if shutil.which("mvn") is None:
        raise InstallError("Maven (mvn) is needed to fetch Kafka's jars: apt-get install maven")
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(_POM.format(kafka=version, log4j=LOG4J_VERSION))
    staging = home / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    result = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(home / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not any(staging.glob(f"kafka_2.13-{version}.jar")):
        raise InstallError(
            f"Maven could not resolve Kafka {version}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    (home / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
    done.write_text(version)
    return libs


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as kafka-storage makes).

    Like Kafka's own ``Uuid.randomUuid``, never one that starts with '-': the storage tool's argument
    parser takes such a value for an option (1 fresh id in 64 failed to format before this)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
_SIMPLE = re.compile(r"[A-Za-z0-9_-]+")


def _property_value(value: str) -> str:
    """A value for a Java properties file (newlines and backslashes escaped)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


@dataclass(frozen=True)
class SaslSslListener:
    """An extra ``SASL_SSL`` listener (tests of the clients' TLS and SASL settings): TLS with the given
    PEM certificate and key, SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 for each (user, password);
    with ``client_ca_file``, clients must also present a certificate that CA signed (mutual TLS).

    The broker's own traffic (controller, inter-broker) stays on PLAINTEXT, and so does the readiness
    probe: this listener is only for the clients under test.
    """

    port: int
    cert_file: Path
    key_file: Path
    users: tuple[tuple[str, str], ...]
    client_ca_file: Path | None = None
    name: str = "SASL_SSL"

    def __post_init__(self) -> None:
        for user, password in self.users:  # written into JAAS and --add-scram as they are
            if not (_SIMPLE.fullmatch(user) and _SIMPLE.fullmatch(password)):
                raise ValueError("SASL_SSL test users and passwords: letters, digits, '-' and '_' only")

    def bootstrap(self, host: str) -> str:
        return f"{host}:{self.port}"

    def properties(self) -> dict[str, str]:
        prefix = f"listener.name.{self.name.lower()}"
        plain_users = " ".join(f'user_{user}="{pw}"' for user, pw in self.users)
        props = {
            f"{prefix}.sasl.enabled.mechanisms": ",".join(("PLAIN", *SCRAM_MECHANISMS)),
            f"{prefix}.plain.sasl.jaas.config": (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
            ),
            # PEM given inline: a PEM keystore *file* would need an encrypted key and its password.
            f"{prefix}.ssl.keystore.type": "PEM",
            f"{prefix}.ssl.keystore.certificate.chain": _property_value(self.cert_file.read_text()),
            f"{prefix}.ssl.keystore.key": _property_value(self.key_file.read_text()),
        }
        if self.client_ca_file is not None:
            props[f"{prefix}.ssl.client.auth"] = "required"
            props[f"{prefix}.ssl.truststore.type"] = "PEM"
            props[f"{prefix}.ssl.truststore.certificates"] = _property_value(self.client_ca_file.read_text())
        for mechanism in SCRAM_MECHANISMS:
            props[f"{prefix}.{mechanism.lower()}.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            )
        return props

    def scram_credentials(self) -> list[str]:
        """``kafka-storage format --add-scram`` arguments: the SCRAM users exist from the first start."""
        return [
            f"{mechanism}=[name={user},password={pw}]"
            for user, pw in self.users
            for mechanism in SCRAM_MECHANISMS
        ]


@dataclass(frozen=True)
class KafkaConfig:
    """One combined broker+controller node on 127.0.0.1."""

    port: int = 9092
    controller_port: int = 9093
    data_dir: str = "/var/lib/kafka/data"
    host: str = "127.0.0.1"
    sasl_ssl: SaslSslListener | None = field(default=None)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def server_properties(self) -> str:
        listeners = [f"PLAINTEXT://{self.host}:{self.port}"]
        protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        if self.sasl_ssl is not None:
            listeners.append(f"{self.sasl_ssl.name}://{self.sasl_ssl.bootstrap(self.host)}")
            protocols.append(f"{self.sasl_ssl.name}:SASL_SSL")
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{self.controller_port}",
            "listeners": ",".join([*listeners, f"CONTROLLER://{self.host}:{self.controller_port}"]),
            "advertised.listeners": ",".join(listeners),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": ",".join(protocols),
            "log.dirs": self.data_dir,
            # One node: every internal topic has a single replica.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Services create their topics explicitly, as they must in production.
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            "num.partitions": "1",
            **(self.sasl_ssl.properties() if self.sasl_ssl is not None else {}),
        }
        return "".join(f"{key}={value}\n" for key, value in props.items())


@dataclass(frozen=True)
class KafkaProcess:
    """Kafka as a local Java process (the ``process`` backend and ``tuneline dev up``)."""

    libs: Path
    workdir: Path
    config: KafkaConfig
    heap: str = "512m"
    java: str = "java"
    die_with_parent: bool = False

    @property
    def daemon(self) -> DaemonProcess:
        return DaemonProcess("kafka", self.workdir)

    def _java(self, main: str, *args: str, server: bool = False) -> list[str]:
        opts = [f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC"] if server else ["-Xmx256m"]
        log4j = self.libs.parent / "log4j2.properties"
        return [
            self.java,
            *opts,
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def start(self, timeout_s: float = 90.0) -> str:
        """Format storage on first start, start the node, wait until it answers; returns the bootstrap."""
        if shutil.which(self.java) is None:
            raise StartError("Java 17+ is needed to run Kafka: apt-get install openjdk-17-jre-headless")
        self.workdir.mkdir(parents=True, exist_ok=True)
        props = self.workdir / "server.properties"
        props.write_text(self.config.server_properties())
        cluster_id_file = self.workdir / "cluster.id"
        if not cluster_id_file.exists():
            cluster_id_file.write_text(new_cluster_id())
        fmt = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "--ignore-formatted",
                "-t",
                cluster_id_file.read_text().strip(),
                "-c",
                str(props),
                *(
                    arg
                    for credential in (
                        self.config.sasl_ssl.scram_credentials() if self.config.sasl_ssl else []
                    )
                    for arg in ("--add-scram", credential)
                ),
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            raise StartError(f"kafka-storage format failed:\n{fmt.stdout}{fmt.stderr}")
        self.daemon.start(
            self._java("kafka.Kafka", str(props), server=True), die_with_parent=self.die_with_parent
        )
        try:
            wait_until(
                lambda: self.daemon.pid() is not None and kafka_answers(self.config.bootstrap),
                f"Kafka on {self.config.bootstrap}",
                timeout_s,
                still_alive=lambda: self.daemon.pid() is not None,
            )
        except StartError as exc:
            self.daemon.stop()
            raise StartError(f"{exc}; last log lines:\n{self.daemon.log_tail()}") from None
        return self.config.bootstrap
