"""Where finished models go: a local folder or ``s3://bucket/prefix``, one folder per run id.

A model is complete once its ``manifest.json`` is there: locally the folder appears by an atomic rename,
on S3 the manifest is uploaded last, so a reader never sees half a model under a manifest.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Protocol

MANIFEST = "manifest.json"


class ModelStore(Protocol):
    def publish(self, run_id: str, folder: Path) -> str:
        """Copy the model folder (with its manifest) into the store; return its URI."""
        ...


class LocalModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def publish(self, run_id: str, folder: Path) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / run_id
        staging = self.root / f".{run_id}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(folder, staging)
        shutil.rmtree(target, ignore_errors=True)  # a retried publish replaces its own earlier copy
        staging.rename(target)
        return str(target.resolve())


class S3ModelStore:
    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")

    def publish(self, run_id: str, folder: Path) -> str:
        base = f"{self.prefix}/{run_id}" if self.prefix else run_id
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        for path in sorted(files, key=lambda p: p.name == MANIFEST):  # the manifest last
            self.client.upload_file(str(path), self.bucket, f"{base}/{path.relative_to(folder).as_posix()}")
        return f"s3://{self.bucket}/{base}"


def model_store(uri: str, s3_client: Any = None) -> ModelStore:
    if uri.startswith("s3://"):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"model store {uri!r}: no bucket")
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        return S3ModelStore(s3_client, bucket, prefix)
    if "://" in uri:
        raise ValueError(f"model store {uri!r}: use a local folder or s3://bucket/prefix")
    return LocalModelStore(Path(uri))
