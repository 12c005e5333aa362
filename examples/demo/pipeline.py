"""The whole pipeline on one machine: the local stack, the example systems, and the six services as
processes of their own, started, watched and stopped together.

Nothing here is demo-only logic inside a service: each service runs exactly as in production
(``python -m services.<name>``), configured through its environment variables and YAML files, which
this module writes into the demo's work folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from examples.demo.monitor import LagProbe, PipelineView, TrainingView, scrape
from examples.demo.view import ServedAnswer
from libs.devstack.process import DaemonProcess
from libs.devstack.servers import free_port
from libs.schemas.names import (
    DEFAULT_TABLE_PREFIX,
    RAW_TOPIC_PREFIX,
    SANITIZED_RECORDS_TOPIC,
    Table,
    is_source_topic,
    namespaced,
    table_name,
)
from services.trainer.core.config import deep_merge

log = logging.getLogger(__name__)

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
SERVICES = ("collector", "sanitizer", "writer", "trainer", "evaluator", "server")
# Dummy credentials: the DynamoDB-compatible server accepts any, boto3 refuses to sign without some.
LOCAL_AWS = {"AWS_ACCESS_KEY_ID": "tuneline-local", "AWS_SECRET_ACCESS_KEY": "tuneline-local"}
DATASET = "support"
TRAINER_CANCEL_GRACE_S = 10  # SIGTERM to SIGKILL of a run's job when the demo stops mid-training


class DemoError(RuntimeError):
    """The pipeline did not get where it should: the message says where, the logs say why."""


@dataclass(frozen=True)
class Sizing:
    """How much data, training and evaluation one run of the demo does."""

    tickets: int
    threshold_records: int
    training: Mapping[str, Any]
    evaluator: Mapping[str, Any]
    log_lines: int = 400
    kb_articles: int = 40


def _evaluator_costs(pairs: int, candidates: int, pii_prompts: int) -> dict[str, Any]:
    """Fewer generations and canary candidates than production: the same checks, smaller samples.
    The exposure ceiling scales with the candidates (at most log2(candidates + 1) bits can be seen)."""
    return {
        "loss": {"batch_size": 8, "max_seq_len": 384, "max_examples": 200},
        "generation": {"batch_size": 16, "max_new_tokens": 48, "max_pairs": pairs, "max_text_prompts": 8},
        "canaries": {"candidates": candidates, "samples": 2, "batch_size": 32},
        "pii_scan": {"max_prompts": pii_prompts, "samples_per_prompt": 1, "max_new_tokens": 48},
        "gates": {"privacy": {"max_exposure": 0.8 * ((candidates + 1).bit_length() - 1)}},
    }


DEMO = Sizing(
    tickets=240,
    threshold_records=180,
    training={"epochs": 2, "seq_len": 256, "batch_size": 4},
    evaluator=_evaluator_costs(pairs=32, candidates=127, pii_prompts=16),
)
SMALL = Sizing(
    tickets=160,
    threshold_records=100,
    training={"epochs": 1, "seq_len": 192, "batch_size": 4},
    evaluator=_evaluator_costs(pairs=12, candidates=63, pii_prompts=8),
    log_lines=120,
    kb_articles=12,
)


@dataclass
class Infra:
    """Where Kafka and the DynamoDB-compatible server answer, and how to stop them if we started them."""

    kafka_bootstrap: str
    dynamodb_endpoint: str
    stop: Callable[[], None] = lambda: None


def start_local_stack(state_dir: Path, keep_running: bool) -> Infra:
    """Kafka and dynalite on free ports, with their data in the demo's folder."""
    from libs.devstack.settings import DevStackSettings
    from libs.devstack.stack import DevStack

    settings = DevStackSettings(
        state_dir=state_dir,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        dynamodb_port=free_port(),
    )
    stack = DevStack(settings)
    statuses, _ = stack.up()
    address = {s.name: s.address for s in statuses}

    def stop() -> None:
        if not keep_running:
            stack.down()

    return Infra(address["kafka"], address["dynamodb"], stop=stop)


@dataclass(frozen=True)
class Topics:
    """The pipeline's topic and consumer group names inside its namespace."""

    namespace: str

    def name(self, name: str) -> str:
        return namespaced(name, self.namespace)

    @property
    def raw_prefix(self) -> str:
        return self.name(RAW_TOPIC_PREFIX)

    @property
    def sanitized(self) -> str:
        return self.name(SANITIZED_RECORDS_TOPIC)

    def is_raw(self, topic: str) -> bool:
        return is_source_topic(topic, self.namespace)  # not raw.dlq nor raw.dlq.sanitizer


@dataclass
class DemoResult:
    run: TrainingView
    runs: list[dict[str, Any]]
    evaluation: dict[str, Any]
    view: PipelineView
    seconds: dict[str, float] = field(default_factory=dict)


class DemoPipeline:
    """Start everything, watch it, stop what was started. Use as a context manager."""

    def __init__(
        self,
        workdir: Path,
        sizing: Sizing = DEMO,
        infra: Infra | None = None,
        namespace: str = "",
        keep_running: bool = False,
        seed: int = 7,
    ) -> None:
        self.workdir = workdir
        self.sizing = sizing
        self.keep_running = keep_running
        self.namespace = namespace
        self.seed = seed
        self.admin_token = secrets.token_urlsafe(24)
        self.ports = {name: free_port() for name in SERVICES}
        self.table_prefix = namespaced(DEFAULT_TABLE_PREFIX, namespace)
        self.topics = Topics(namespace)
        self._infra = infra
        self._own_infra = infra is None
        self._systems: Any = None
        self._processes: dict[str, DaemonProcess] = {}
        self.configs: dict[str, Path] = {}  # written by start()
        self._http = httpx.Client()
        self._lag: LagProbe | None = None
        self.started_at = time.monotonic()

    # ------------------------------------------------------------------------------------ start/stop
    def __enter__(self) -> DemoPipeline:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.keep_running:
            self.stop()

    @property
    def infra(self) -> Infra:
        if self._infra is None:
            raise DemoError("the pipeline has not been started")
        return self._infra

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['trainer']}"

    def start(self) -> None:
        from examples import start_example_systems

        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._infra is None:
            self._infra = start_local_stack(self.workdir / "stack", self.keep_running)
        self._lag = LagProbe(self.infra.kafka_bootstrap)
        self._systems = start_example_systems(
            self.workdir / "systems",
            tickets=self.sizing.tickets,
            log_lines=self.sizing.log_lines,
            kb_articles=self.sizing.kb_articles,
            seed=self.seed,
        )
        self.configs = self._write_configs()
        # The writer creates the tables and the trainer reads them: start the consumers first so that
        # nothing the collector sends waits on a consumer group that does not exist yet.
        for name in ("writer", "sanitizer", "trainer", "evaluator", "server", "collector"):
            self._start_service(name)
        self._wait_ready(timeout_s=240)

    def stop(self) -> None:
        for name in ("collector", "sanitizer", "writer", "evaluator", "server", "trainer"):
            process = self._processes.get(name)
            if process is not None:
                # The trainer cancels a run in progress first (its job and Ray workers are a process
                # group of their own): give it the cancel grace and some margin before SIGKILL.
                with contextlib.suppress(OSError):
                    process.stop(timeout_s=TRAINER_CANCEL_GRACE_S + 30 if name == "trainer" else 30)
        self._stop_orphaned_jobs()
        if self._systems is not None:
            self._systems.stop()
            self._systems = None
        if self._lag is not None:
            self._lag.close()  # before the broker stops: its client would log every failed reconnect
            self._lag = None
        if self._infra is not None and self._own_infra:
            self._infra.stop()
        self._http.close()

    def _stop_orphaned_jobs(self) -> None:
        """A run still training when the trainer stopped leaves its job (and Ray) running in a process
        group of its own: stop every job this trainer started (it logs their pids)."""
        log_path = self.workdir / "logs" / "trainer.log"
        if not log_path.exists():
            return
        for line in log_path.read_text(errors="replace").splitlines():
            if '"run started"' not in line:
                continue
            with contextlib.suppress(ValueError, KeyError, TypeError):
                pid = int(json.loads(line)["pid"])
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if Path(f"/proc/{pid}").exists() else b""
                if b"services.trainer.job" in cmdline:  # not a recycled pid
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, signal.SIGKILL)

    # --------------------------------------------------------------------------------------- config
    def _write_configs(self) -> dict[str, Path]:
        from examples.domain import sanitizer_policy_overrides

        folder = self.workdir / "config"
        folder.mkdir(parents=True, exist_ok=True)
        trainer = yaml.safe_load((REPO_CONFIG / "trainer.yaml").read_text())
        trainer["defaults"] = deep_merge(trainer.get("defaults", {}), dict(self.sizing.training))
        for dataset in trainer["datasets"]:
            if dataset["name"] == DATASET:
                dataset.update(threshold_records=self.sizing.threshold_records, cooldown_s=3600)
                dataset.pop("training", None)  # the demo's sizing decides the epochs
            else:
                dataset["schedule"] = False  # one threshold run, of the support dataset
        evaluator = deep_merge(
            yaml.safe_load((REPO_CONFIG / "evaluator.yaml").read_text()), dict(self.sizing.evaluator)
        )
        # The company's own vocabulary (product and menu names) is not a person's name: the policy the
        # sanitizer and the evaluator's PII scan use says so, as an operator's would.
        policy = deep_merge(
            yaml.safe_load((REPO_CONFIG / "sanitizer.yaml").read_text()), sanitizer_policy_overrides()
        )
        paths = {
            "trainer": folder / "trainer.yaml",
            "evaluator": folder / "evaluator.yaml",
            "sanitizer": folder / "sanitizer.yaml",
            "sources": self._systems.sources_file,
        }
        evaluator.setdefault("pii_scan", {})["policy_file"] = str(paths["sanitizer"])
        paths["sanitizer"].write_text(yaml.safe_dump(policy, sort_keys=False))
        paths["trainer"].write_text(yaml.safe_dump(trainer, sort_keys=False))
        paths["evaluator"].write_text(yaml.safe_dump(evaluator, sort_keys=False))
        return paths

    def service_env(self, name: str) -> dict[str, str]:
        """The environment ``name`` runs with (also what a CLI command needs to reach this pipeline)."""
        configs = self.configs
        infra = self.infra
        env = {
            **LOCAL_AWS,
            "TUNELINE_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
            "TUNELINE_DYNAMODB_ENDPOINT": infra.dynamodb_endpoint,
            "TUNELINE_AWS_REGION": "us-east-1",
            "TUNELINE_NAMESPACE": self.namespace,
            "TUNELINE_LOG_FORMAT": "json",
            "TUNELINE_ADMIN_TOKEN": self.admin_token,
            "TUNELINE_MODEL_STORE": str(self.workdir / "models"),
            "PYTHONUNBUFFERED": "1",
            **self._systems.env,
        }
        port = str(self.ports[name])
        if name == "collector":
            env |= {
                "TUNELINE_COLLECTOR_HTTP_PORT": port,
                "TUNELINE_COLLECTOR_CONFIG_FILE": str(configs["sources"]),
            }
        elif name == "sanitizer":
            env |= {
                "TUNELINE_SANITIZER_HTTP_PORT": port,
                "TUNELINE_SANITIZER_FAUST_WEB_PORT": str(free_port()),
                "TUNELINE_SANITIZER_DEV_MODE": "true",  # the placeholder pseudonym key, local only
                "TUNELINE_SANITIZER_CONFIG_FILE": str(configs["sanitizer"]),
                "TUNELINE_SANITIZER_DATADIR": str(self.workdir / "sanitizer"),
                "TUNELINE_SANITIZER_PARTITIONS": "2",
            }
        elif name == "writer":
            env |= {"TUNELINE_WRITER_HTTP_PORT": port, "TUNELINE_WRITER_TOPIC_PARTITIONS": "2"}
        elif name == "trainer":
            env |= {
                "TUNELINE_TRAINER_HTTP_PORT": port,
                "TUNELINE_TRAINER_CONFIG_FILE": str(configs["trainer"]),
                "TUNELINE_TRAINER_WORK_DIR": str(self.workdir / "runs"),
                "TUNELINE_TRAINER_SCHEDULER_INTERVAL_S": "3",
                "TUNELINE_TRAINER_SNAPSHOT_SETTLE_S": "2",
                "TUNELINE_TRAINER_CANCEL_GRACE_S": str(TRAINER_CANCEL_GRACE_S),
            }
        elif name == "server":
            env |= {  # serves what the evaluator promotes; the admin token guards its API too
                "TUNELINE_SERVER_HTTP_PORT": port,
                "TUNELINE_SERVER_WORK_DIR": str(self.workdir / "server"),
                "TUNELINE_SERVER_DATASETS": json.dumps([DATASET]),
            }
        elif name == "evaluator":
            env |= {
                "TUNELINE_EVALUATOR_HTTP_PORT": port,
                "TUNELINE_EVALUATOR_CONFIG_FILE": str(configs["evaluator"]),
                "TUNELINE_EVALUATOR_WORK_DIR": str(self.workdir / "evaluator"),
                # continuous evaluation asks this pipeline's admin API for drift runs
                "TUNELINE_EVALUATOR_ADMIN_URL": f"http://127.0.0.1:{self.ports['trainer']}",
            }
        return env

    def _start_service(self, name: str) -> None:
        process = DaemonProcess(name, self.workdir / "logs")
        process.start(
            [sys.executable, "-m", f"services.{name}"],
            env=self.service_env(name),
            die_with_parent=not self.keep_running,
            base_env=inherited_env(),
        )
        self._processes[name] = process

    def _wait_ready(self, timeout_s: float) -> None:
        waiting = set(SERVICES)
        deadline = time.monotonic() + timeout_s
        while waiting and time.monotonic() < deadline:
            self.check_alive()
            for name in sorted(waiting):
                # The model server is ready once a model is in production: until then, it is up.
                probe = "healthz" if name == "server" else "readyz"
                with contextlib.suppress(httpx.HTTPError):
                    if self._http.get(f"http://127.0.0.1:{self.ports[name]}/{probe}", timeout=2).is_success:
                        waiting.discard(name)
            time.sleep(0.5)
        if waiting:
            raise DemoError(
                f"not ready after {timeout_s:.0f} s: {', '.join(sorted(waiting))}; {self.logs_hint()}"
            )

    # ---------------------------------------------------------------------------------------- watch
    def logs_hint(self) -> str:
        return f"logs in {self.workdir / 'logs'}"

    def check_alive(self) -> None:
        for name, process in self._processes.items():
            if process.pid() is None:
                raise DemoError(f"the {name} exited:\n{process.log_tail(15)}\n{self.logs_hint()}")

    def _admin(self, path: str) -> Any:
        response = self._http.get(
            f"{self.admin_url}/v1{path}", headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=5
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def runs(self) -> list[dict[str, Any]]:
        body = self._admin(f"/trainings?dataset={DATASET}")
        return list(body["runs"]) if body else []

    def evaluation(self, run_id: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._admin(f"/evaluations/{run_id}")
        return result

    def view(self) -> PipelineView:
        urls = {name: f"http://127.0.0.1:{port}/metrics" for name, port in self.ports.items()}
        scraped, missing = scrape(self._http, urls)
        view = PipelineView.of(scraped)
        view.unreachable = missing
        if self._lag is not None:
            raw = self.raw_topics()
            view.lag = {
                "sanitizer": self._lag.lag(self.topics.name("tuneline-sanitizer"), raw) if raw else None,
                "writer": self._lag.lag(self.topics.name("tuneline-writer"), [self.topics.sanitized]),
            }
        with contextlib.suppress(httpx.HTTPError):
            runs = self.runs()
            if runs:
                view.training = TrainingView.of(runs[0])
                if view.training.state == "succeeded":
                    evaluation = self.evaluation(view.training.run_id)
                    view.decision = evaluation["decision"] if evaluation else None
        return view

    def watch(self, timeout_s: float, refresh_s: float = 1.0) -> Iterator[PipelineView]:
        """Views until the threshold run has been trained and decided; raises DemoError on a failure."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            view = self.view()
            yield view
            run = view.training
            if run is not None and run.state in {"failed", "cancelled"}:
                raise DemoError(f"training run {run.run_id} {run.state}: {run.error}; {self.logs_hint()}")
            if view.decision is not None:
                return
            time.sleep(refresh_s)
        raise DemoError(
            f"no decision within {timeout_s:.0f} s (a busy machine needs more: --timeout); {self.logs_hint()}"
        )

    def run_to_decision(self, timeout_s: float) -> DemoResult:
        """``watch`` without showing anything: the result once the evaluator has decided."""
        last: PipelineView | None = None
        for last in self.watch(timeout_s):  # noqa: B007 - the last view is the one wanted
            pass
        if last is None:
            raise DemoError("the pipeline was never observed")
        return self.result(last)

    def result(self, view: PipelineView) -> DemoResult:
        if view.training is None:
            raise DemoError("no training run")
        evaluation = self.evaluation(view.training.run_id)
        if evaluation is None:
            raise DemoError(f"run {view.training.run_id} has no evaluation")
        return DemoResult(view.training, self.runs(), evaluation, view)

    @property
    def server_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['server']}"

    def ask_served_model(self, question: str, run_id: str, timeout_s: float = 300.0) -> ServedAnswer:
        """Ask the model server, through the official OpenAI client, once it serves ``run_id`` (it loads
        a promoted model when the evaluator announces it)."""
        import openai

        deadline = time.monotonic() + timeout_s
        while True:
            self.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                ready = self._http.get(f"{self.server_url}/readyz", timeout=2)
                if ready.is_success and ready.json()["serving"].get(DATASET) == run_id:
                    break
            if time.monotonic() > deadline:
                raise DemoError(
                    f"the model server did not load {run_id} in {timeout_s:.0f} s; {self.logs_hint()}"
                )
            time.sleep(0.5)
        client = openai.OpenAI(base_url=f"{self.server_url}/v1", api_key=self.admin_token, max_retries=2)
        started = time.monotonic()
        response = client.chat.completions.create(
            model=DATASET, messages=[{"role": "user", "content": question}], max_tokens=120, temperature=0
        )
        return ServedAnswer(
            question=question,
            answer=(response.choices[0].message.content or "").strip(),
            model=response.model,
            seconds=time.monotonic() - started,
            completion_tokens=response.usage.completion_tokens if response.usage else 0,
        )

    def raw_topics(self) -> list[str]:
        if self._lag is None:
            return []
        return [t for t in self._lag.topics(self.topics.raw_prefix) if self.topics.is_raw(t)]

    def table(self, table: Table) -> str:
        return table_name(table, self.table_prefix)

    def drain(self, timeout_s: float = 120.0) -> PipelineView:
        """Stop the collector and wait until the sanitizer and the writer have consumed everything it
        sent: then the topics and the table can be compared record for record."""
        self._processes.pop("collector").stop(timeout_s=30)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            view = self.view()
            if view.lag.get("sanitizer") == 0 and view.lag.get("writer") == 0:
                return view
            time.sleep(1.0)
        raise DemoError(f"the sanitizer and writer did not catch up within {timeout_s:.0f} s: {view.lag}")

    @property
    def systems(self) -> Any:
        """The example systems (their data, planted values and held-out questions)."""
        return self._systems


def clean_workdir(workdir: Path) -> None:
    """A demo starts from empty topics and tables: remove what an earlier run left (not the caches)."""
    if workdir.exists():
        for child in workdir.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def stop_leftovers(workdir: Path) -> list[str]:
    """Stop what a ``--keep-running`` demo left up (its pid files are in the work folder)."""
    stopped = [name for name in SERVICES if DaemonProcess(name, workdir / "logs").stop()]
    from libs.devstack.settings import DevStackSettings
    from libs.devstack.stack import DevStack

    if (workdir / "stack").exists():
        stopped += DevStack(DevStackSettings(state_dir=workdir / "stack")).down()
    return stopped


def default_workdir() -> Path:
    cache = Path(os.environ.get("TUNELINE_CACHE_DIR", Path.home() / ".cache" / "tuneline"))
    return cache / "demo"


# Where the user keeps caches and state; every other TUNELINE_* variable of the calling shell (a
# `tuneline dev up` broker, Kafka credentials of another cluster, a table prefix) is the demo's to set.
_INHERITED_SETTINGS = frozenset({"TUNELINE_HOME", "TUNELINE_CACHE_DIR"})


def inherited_env() -> dict[str, str]:
    """This process's environment without the tuneline settings the demo's services must not pick up."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TUNELINE_") or key in _INHERITED_SETTINGS
    }
