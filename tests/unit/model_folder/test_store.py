from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from libs.model_folder.files import MANIFEST_FILE
from libs.model_folder.store import LocalModelStore, UnsafeModelKey, local_model, model_store


class FakeS3:
    """list_objects_v2 pages and download_file over a dict of key -> bytes; records the order."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.downloaded: list[str] = []

    def get_paginator(self, name: str) -> Any:
        assert name == "list_objects_v2"
        objects = self.objects

        class Pages:
            def paginate(self, Bucket: str, Prefix: str) -> list[dict[str, Any]]:  # noqa: N803 - boto3's names
                return [{"Contents": [{"Key": k} for k in sorted(objects) if k.startswith(Prefix)]}]

        return Pages()

    def download_file(self, bucket: str, key: str, path: str) -> None:
        Path(path).write_bytes(self.objects[key])
        self.downloaded.append(key)


def test_a_model_is_copied_from_s3_with_its_manifest_last_and_once(tmp_path: Path) -> None:
    s3 = FakeS3({"m/run-1/config.json": b"{}", f"m/run-1/{MANIFEST_FILE}": b"{}", "m/run-1/w/a.bin": b"1"})
    folder = local_model("s3://bucket/m/run-1", tmp_path, s3)
    assert folder == (tmp_path / "bucket" / "m" / "run-1").resolve()
    assert (folder / "w" / "a.bin").read_bytes() == b"1"
    assert s3.downloaded[-1] == f"m/run-1/{MANIFEST_FILE}"  # a half copy never looks complete
    again = FakeS3(s3.objects)
    assert local_model("s3://bucket/m/run-1/", tmp_path, again) == folder and again.downloaded == []


@pytest.mark.parametrize("key", ["m/run-1/../../../escaped", "m/run-1//etc/passwd", "m/run-1/"])
def test_an_object_key_that_leaves_the_target_folder_is_refused(tmp_path: Path, key: str) -> None:
    s3 = FakeS3({key: b"x", f"m/run-1/{MANIFEST_FILE}": b"{}"})
    with pytest.raises(UnsafeModelKey):
        local_model("s3://bucket/m/run-1", tmp_path / "work", s3)
    assert not (tmp_path / "escaped").exists()


def test_a_model_uri_that_leaves_the_work_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeModelKey):
        local_model("s3://bucket/../../x", tmp_path / "work", FakeS3({}))


def test_a_local_model_is_used_where_it_is_and_published_atomically(tmp_path: Path) -> None:
    assert local_model(str(tmp_path / "m"), tmp_path) == tmp_path / "m"
    source = tmp_path / "built"
    source.mkdir()
    (source / MANIFEST_FILE).write_text("{}")
    store = model_store(str(tmp_path / "store"))
    assert isinstance(store, LocalModelStore)
    uri = store.publish("run-1", source)
    assert Path(uri, MANIFEST_FILE).is_file() and not list((tmp_path / "store").glob(".*partial"))
    with pytest.raises(ValueError, match="local folder or s3"):
        model_store("gs://bucket/x")
