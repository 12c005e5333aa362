"""Where finished models go: a local folder or ``s3://bucket/prefix``, one folder per run id.

A model is complete once its ``manifest.json`` is there: locally the folder appears by an atomic rename,
on S3 the manifest is uploaded last, so a reader never sees half a model under a manifest.
``local_model`` brings a published model to this machine (evaluator, model server).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Protocol

from libs.model_folder.files import MANIFEST_FILE


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
        for path in sorted(files, key=lambda p: p.name == MANIFEST_FILE):  # the manifest last
            self.client.upload_file(str(path), self.bucket, f"{base}/{path.relative_to(folder).as_posix()}")
        return f"s3://{self.bucket}/{base}"


def model_store(uri: str, s3_client: Any = None) -> ModelStore:
    if uri.startswith("s3://"):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"model store {uri!r}: no bucket")
        if s3_client is None:
            from libs.common.aws import s3_client as make_s3_client

            s3_client = make_s3_client()
        return S3ModelStore(s3_client, bucket, prefix)
    if "://" in uri:
        raise ValueError(f"model store {uri!r}: use a local folder or s3://bucket/prefix")
    return LocalModelStore(Path(uri))


class UnsafeModelKey(ValueError):
    """An object under a model's prefix whose key would be written outside the download folder."""


def local_model(uri: str, work_dir: Path, s3: Any = None) -> Path:
    """The model folder on this machine: the folder itself, or a copy of an ``s3://`` prefix under
    ``work_dir`` (downloaded once: a copy with its manifest is complete, as it was uploaded last).

    Object keys come from the bucket, not from us: a key such as ``run/../../etc/x`` or an absolute
    one must not write outside the target folder, so each path is resolved and checked first.
    """
    if not uri.startswith("s3://"):
        return Path(uri)
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    prefix = prefix.rstrip("/")
    root = work_dir.resolve()
    target = (root / bucket / prefix).resolve()
    if not target.is_relative_to(root) or target == root:
        raise UnsafeModelKey(f"model URI {uri!r} would be copied outside {root}")
    if (target / MANIFEST_FILE).exists():
        return target
    if s3 is None:
        from libs.common.aws import s3_client

        s3 = s3_client()
    downloads: list[tuple[str, Path]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            path = (target / obj["Key"][len(prefix) + 1 :]).resolve()
            if not path.is_relative_to(target) or path == target:
                raise UnsafeModelKey(f"s3://{bucket}/{obj['Key']} would be written outside {target}")
            downloads.append((obj["Key"], path))
    for key, path in sorted(downloads, key=lambda d: d[1].name == MANIFEST_FILE):  # the manifest last
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(path))
    return target
