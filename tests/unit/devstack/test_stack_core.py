from __future__ import annotations

import base64
import subprocess
import sys
import time
from pathlib import Path

import pytest

from libs.devstack.errors import StartError
from libs.devstack.kafka import KafkaConfig, new_cluster_id
from libs.devstack.process import DaemonProcess
from libs.devstack.servers import Backend, choose_backend


def test_backend_choice() -> None:
    assert choose_backend("auto", docker_ok=True, images_available=True) is Backend.DOCKER
    assert choose_backend("auto", docker_ok=True, images_available=False) is Backend.PROCESS
    assert choose_backend("auto", docker_ok=False, images_available=True) is Backend.PROCESS
    assert choose_backend("process", docker_ok=True, images_available=True) is Backend.PROCESS
    assert choose_backend("docker", docker_ok=True, images_available=False) is Backend.DOCKER
    with pytest.raises(StartError, match="no Docker engine"):
        choose_backend("docker", docker_ok=False, images_available=True)


def test_kafka_properties_single_kraft_node_on_loopback() -> None:
    props = dict(
        line.split("=", 1)
        for line in KafkaConfig(port=19092, controller_port=19093, data_dir="/d")
        .server_properties()
        .splitlines()
    )
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["log.dirs"] == "/d"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["auto.create.topics.enable"] == "false"


def test_cluster_id_is_16_bytes_url_safe() -> None:
    cid = new_cluster_id()
    assert len(cid) == 22 and "=" not in cid
    assert len(base64.urlsafe_b64decode(cid + "==")) == 16
    assert new_cluster_id() != cid


def test_cluster_id_never_looks_like_an_option() -> None:
    # One in 64 random ids starts with '-', which the storage tool's parser reads as an option.
    assert not any(new_cluster_id().startswith("-") for _ in range(2000))


def test_daemon_process_start_pid_stop(tmp_path: Path) -> None:
    daemon = DaemonProcess("sleeper", tmp_path)
    assert daemon.pid() is None
    pid = daemon.start([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"])
    assert daemon.pid() == pid
    deadline = time.monotonic() + 10
    while "up" not in daemon.log_tail() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon.log_tail() == "up"
    assert daemon.stop(timeout_s=5) is True
    assert daemon.pid() is None and not daemon.pid_path.exists()
    assert daemon.stop() is False


def test_a_recycled_pid_is_not_taken_for_ours(tmp_path: Path) -> None:
    daemon = DaemonProcess("ghost", tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        daemon.pid_path.write_text(f"{other.pid} 1")  # same pid, different start time
        assert daemon.pid() is None
    finally:
        other.kill()
        other.wait()
