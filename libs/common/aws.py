"""The one DynamoDB client builder: every service and CLI command gets its client here.

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


def dynamodb_client(shared: SharedSettings, config: Config | None = None) -> Any:
    """A DynamoDB client for ``TUNELINE_DYNAMODB_ENDPOINT`` (unset: AWS) in ``TUNELINE_AWS_REGION``."""
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
        "dynamodb", endpoint_url=shared.dynamodb_endpoint, region_name=shared.aws_region, config=config
    )
