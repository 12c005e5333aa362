"""The AWS client builders: every service and CLI command gets its DynamoDB and S3 clients here.

Credentials come from boto3's usual chain (environment, profile, container or instance role). When the
chain finds none, ``dynamodb_client`` raises ``AwsCredentialsMissing`` with one line that says what to
set, instead of boto3's ``NoCredentialsError`` traceback on the first request. For the local stack,
``eval "$(tuneline dev up)"`` sets the dummy credentials the DynamoDB-compatible server accepts.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from libs.common.settings import SharedSettings


class AwsCredentialsMissing(RuntimeError):
    """No AWS credentials anywhere boto3 looks."""


def dynamodb_config(shared: SharedSettings, max_pool_connections: int | None = None) -> Config:
    """botocore's standard retry mode (throttling and transient errors retried with backoff, up to
    ``TUNELINE_DYNAMODB_MAX_ATTEMPTS``) and bounded connect and read timeouts, so a stalled server
    fails a call instead of hanging a service."""
    options: dict[str, Any] = {
        "retries": {"mode": "standard", "total_max_attempts": shared.dynamodb_max_attempts},
        "connect_timeout": shared.dynamodb_connect_timeout_s,
        "read_timeout": shared.dynamodb_read_timeout_s,
    }
    if max_pool_connections is not None:
        options["max_pool_connections"] = max_pool_connections
    return Config(**options)


def dynamodb_client(shared: SharedSettings, max_pool_connections: int | None = None) -> Any:
    """A DynamoDB client for ``TUNELINE_DYNAMODB_ENDPOINT`` (unset: AWS) in ``TUNELINE_AWS_REGION``,
    configured by ``dynamodb_config``; ``max_pool_connections`` for callers with many threads."""
    session = boto3.session.Session()
    if session.get_credentials() is None:
        where = shared.dynamodb_endpoint or f"AWS ({shared.aws_region})"
        hint = (
            'for the local stack run: set -a; eval "$(tuneline dev up)"; set +a'
            if shared.dynamodb_endpoint
            else "use a profile (AWS_PROFILE), an instance or pod role, or set the variables"
        )
        raise AwsCredentialsMissing(
            f"no AWS credentials for DynamoDB at {where}: set AWS_ACCESS_KEY_ID and "
            f"AWS_SECRET_ACCESS_KEY ({hint})"
        )
    return session.client(
        "dynamodb",
        endpoint_url=shared.dynamodb_endpoint,
        region_name=shared.aws_region,
        config=dynamodb_config(shared, max_pool_connections),
    )


def s3_client(shared: SharedSettings | None = None) -> Any:
    """An S3 client (model store) in ``TUNELINE_AWS_REGION``, ``TUNELINE_S3_ENDPOINT`` for an
    S3-compatible store (MinIO, Ceph); standard retry mode. Credentials: boto3's chain."""
    shared = shared or SharedSettings()
    config = Config(
        retries={"mode": "standard", "total_max_attempts": shared.dynamodb_max_attempts},
        connect_timeout=shared.dynamodb_connect_timeout_s,
        read_timeout=shared.dynamodb_read_timeout_s,
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=shared.s3_endpoint, region_name=shared.aws_region, config=config
    )
