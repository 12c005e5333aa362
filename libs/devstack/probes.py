"""Readiness checks: a server is ready when it answers its own protocol, not when its port opens."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

import boto3
from botocore.config import Config

from libs.common import kafka
from libs.devstack.errors import StartError

log = logging.getLogger(__name__)

__all__ = ["dynamodb_answers", "kafka_answers", "port_open", "wait_until"]

# dynalite accepts any credentials; boto3 still refuses to sign without some.
LOCAL_AWS_KEY_ID = "tuneline"
LOCAL_AWS_SECRET = "tuneline"  # noqa: S105 - not a secret: the local server ignores it
LOCAL_AWS_REGION = "us-east-1"


def kafka_answers(bootstrap: str) -> bool:
    """The local PLAINTEXT broker (dev stack, test servers) answers with a KRaft controller."""
    return kafka.kafka_answers(kafka.plaintext_settings(bootstrap))


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def dynamodb_answers(endpoint: str, region: str = LOCAL_AWS_REGION, timeout_s: float = 2.0) -> bool:
    host_port = endpoint.split("://", 1)[-1].rstrip("/")
    host, _, port = host_port.rpartition(":")
    if not port_open(host, int(port)):
        return False
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region,
        config=Config(connect_timeout=timeout_s, read_timeout=timeout_s, retries={"max_attempts": 1}),
        aws_access_key_id=LOCAL_AWS_KEY_ID,
        aws_secret_access_key=LOCAL_AWS_SECRET,
    )
    try:
        client.list_tables(Limit=1)
        return True
    except Exception:  # noqa: BLE001
        return False


def wait_until(
    check: Callable[[], bool], what: str, timeout_s: float, still_alive: Callable[[], bool]
) -> None:
    """Poll ``check`` until it passes; fail at once if the server died, else after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while time.monotonic() < deadline:
        if check():
            return
        if not still_alive():
            raise StartError(f"{what} exited during start-up")
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)
    raise StartError(f"{what} did not answer within {timeout_s:.0f}s")
