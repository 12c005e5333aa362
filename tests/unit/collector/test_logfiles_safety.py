"""The log source reads regular files only: a symlink or a FIFO that a glob matches is skipped."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import orjson
import pytest

from services.collector.adapters.logfiles import LogFileSource
from services.collector.core.config import LogSourceConfig
from services.collector.core.items import Emit


def _contents(source: LogFileSource) -> list[str]:
    return [orjson.loads(item.value)["content"] for item in source.poll() if isinstance(item, Emit)]


def _source(tmp_path: Path, **extra: object) -> LogFileSource:
    config = LogSourceConfig.model_validate(
        {"kind": "log", "name": "app", "paths": [str(tmp_path / "logs" / "*")], **extra}
    )
    source = LogFileSource(config)
    source.open({})
    return source


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text("ordinary line\n")
    (tmp_path / "secret.txt").write_text("root:secret\n")
    (tmp_path / "logs" / "link.log").symlink_to(tmp_path / "secret.txt")
    return tmp_path / "logs"


def test_a_symlink_is_not_followed_by_default(
    tmp_path: Path, logs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert _contents(_source(tmp_path)) == ["ordinary line"]
    assert [(Path(r.path).name, r.file_type) for r in caplog.records] == [  # type: ignore[attr-defined]
        ("link.log", "symlink (follow_symlinks is off)")
    ]


def test_follow_symlinks_reads_the_target(tmp_path: Path, logs: Path) -> None:
    assert sorted(_contents(_source(tmp_path, follow_symlinks=True))) == ["ordinary line", "root:secret"]


def test_a_fifo_is_skipped_and_never_blocks(
    tmp_path: Path, logs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    os.mkfifo(logs / "pipe.log")
    result: list[list[str]] = []
    worker = threading.Thread(target=lambda: result.append(_contents(_source(tmp_path))), daemon=True)
    worker.start()
    worker.join(timeout=5)
    if worker.is_alive():  # unblock the open() so the test process can end
        with open(logs / "pipe.log", "wb"):
            pass
        pytest.fail("the source blocked on a FIFO")
    assert result == [["ordinary line"]]
    skipped = {Path(r.path).name: r.file_type for r in caplog.records}  # type: ignore[attr-defined]
    assert skipped["pipe.log"] == "fifo"


def test_a_fifo_behind_a_symlink_is_skipped_even_when_following(tmp_path: Path, logs: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (logs / "to-fifo.log").symlink_to(tmp_path / "fifo")
    result: list[list[str]] = []
    worker = threading.Thread(
        target=lambda: result.append(_contents(_source(tmp_path, follow_symlinks=True))), daemon=True
    )
    worker.start()
    worker.join(timeout=5)
    if worker.is_alive():
        with open(tmp_path / "fifo", "wb"):
            pass
        pytest.fail("the source blocked on a FIFO")
    assert sorted(result[0]) == ["ordinary line", "root:secret"]


def test_a_folder_is_skipped_quietly_and_a_symlink_loop_is_skipped(
    tmp_path: Path, logs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (logs / "archive").mkdir()
    (logs / "loop.log").symlink_to(logs / "loop.log")
    assert sorted(_contents(_source(tmp_path, follow_symlinks=True))) == ["ordinary line", "root:secret"]
    assert [Path(r.path).name for r in caplog.records] == ["loop.log"]  # type: ignore[attr-defined]
