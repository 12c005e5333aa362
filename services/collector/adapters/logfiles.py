"""Log-file source: tails every file matching the globs, across rotations, from exact byte offsets."""

from __future__ import annotations

import errno
import fnmatch
import glob
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pydantic import JsonValue

from libs.schemas.records import RecordKind
from services.collector.core.config import LogSourceConfig
from services.collector.core.errors import SourceUnavailable
from services.collector.core.items import Checkpoint, Item, Reject
from services.collector.core.logs import (
    Entry,
    JsonLineParser,
    LineSplitter,
    MultilineJoiner,
    ObservedFile,
    ParseError,
    Parser,
    PlainParser,
    RegexParser,
    decode,
    fingerprint,
    plan_reads,
)
from services.collector.core.records import RecordFactory
from services.collector.core.template import ContentTemplate

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Tail:
    """What is known about one file between passes."""

    path: str
    splitter: LineSplitter
    joiner: MultilineJoiner | None
    last_data_at: float


class LogFileSource:
    def __init__(
        self,
        config: LogSourceConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = config.name
        self.config = config
        self._clock = clock
        self._factory = RecordFactory(config.name, RecordKind.LOG, config.max_record_bytes)
        self._template = ContentTemplate(config.content_template) if config.content_template else None
        self._parser: Parser = _parser(config)
        self._offsets: dict[str, int] = {}
        self._tails: dict[str, _Tail] = {}
        self._skipped: set[str] = set()  # paths already warned about, so a pass does not repeat it

    def open(self, checkpoint: Checkpoint) -> None:
        self._offsets = {}
        for fp, offset in checkpoint.items():
            if isinstance(offset, dict) and isinstance(offset.get("offset"), int):
                self._offsets[fp] = int(offset["offset"])  # type: ignore[arg-type]
        self._tails = {}
        log.info("log source opened", extra={"source": self.name, "files_known": len(self._offsets)})

    def close(self) -> None:
        self._tails = {}

    # -- one pass over every matching file ----------------------------------------------------------

    def poll(self) -> Iterator[Item]:
        observed = self._observe()
        # Offsets for the plan: where each known file's *reading* stands (a tail may have read past
        # its last checkpointed record while a multiline record is still open).
        reading = {fp: tail.splitter.offset for fp, tail in self._tails.items()}
        for plan in plan_reads(observed, {**self._offsets, **reading}, self.config.start_at):
            tail = self._tails.get(plan.fingerprint)
            if tail is None or plan.truncated:
                if plan.truncated:
                    log.warning(
                        "file truncated, reading it again", extra={"source": self.name, "path": plan.path}
                    )
                tail = self._tails[plan.fingerprint] = _Tail(
                    plan.path,
                    LineSplitter(plan.start, self.config.max_line_bytes),
                    _joiner(self.config),
                    self._clock(),
                )
            tail.path = plan.path
            yield from self._read(plan.fingerprint, tail)
        # A file gone from every pattern (deleted, or rotated to a name the globs miss) completes its
        # last multiline record and is forgotten.
        present = {file.fingerprint for file in observed}
        for fp in [fp for fp in self._tails if fp not in present]:
            gone = self._tails.pop(fp)
            done = gone.joiner.flush() if gone.joiner is not None else None
            if done is not None:
                yield self._item(fp, gone.path, done)

    def _observe(self) -> list[ObservedFile]:
        paths: set[str] = set()
        for pattern in self.config.paths:
            paths.update(glob.glob(pattern, recursive=True))
        observed = []
        for path in sorted(paths):
            if any(
                fnmatch.fnmatch(path, ex) or fnmatch.fnmatch(os.path.basename(path), ex)
                for ex in self.config.exclude
            ):
                continue
            try:
                handle = self._open(path)
                if handle is None:
                    continue
                with handle:
                    size = os.fstat(handle.fileno()).st_size
                    head = handle.read(self.config.fingerprint_bytes)
            except FileNotFoundError:
                continue  # rotated away between the glob and the open: next pass sees its new name
            except PermissionError as exc:
                raise SourceUnavailable(f"source {self.name!r}: cannot read {path}: {exc.strerror}") from exc
            fp = fingerprint(head, self.config.fingerprint_bytes)
            if fp is not None:
                observed.append(ObservedFile(path, fp, size))
        return observed

    def _open(self, path: str) -> BinaryIO | None:
        """The file at ``path`` opened for reading if it is a regular file, else None (with a warning).

        A glob can match a FIFO (its open blocks until a writer comes), a device, or a symlink to any
        file the process may read; only regular files are read, and symlinks only when configured.
        Checked before the open (so a device is never opened) and again on the open descriptor (the
        path may have been swapped in between); O_NONBLOCK keeps that open from waiting on a FIFO.
        """
        follow = self.config.follow_symlinks
        try:
            info = os.stat(path) if follow else os.lstat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symlink loop
                self._skip(path, stat.S_IFLNK)
                return None
            raise
        if stat.S_ISDIR(info.st_mode):
            return None  # a glob matching a folder is common: skipped quietly, as before
        if not stat.S_ISREG(info.st_mode):
            self._skip(path, info.st_mode)
            return None
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        if not follow:
            flags |= os.O_NOFOLLOW
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # became a symlink since the lstat
                self._skip(path, stat.S_IFLNK)
                return None
            raise
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            self._skip(path, mode)
            return None
        self._skipped.discard(path)
        return os.fdopen(fd, "rb")

    def _skip(self, path: str, mode: int) -> None:
        if path not in self._skipped:
            self._skipped.add(path)
            log.warning(
                "skipping a path that is not a regular file",
                extra={"source": self.name, "path": path, "file_type": _file_type(mode)},
            )

    def _read(self, fp: str, tail: _Tail) -> Iterator[Item]:
        try:
            handle = self._open(tail.path)  # closed below; the generator may pause
        except FileNotFoundError:
            return
        if handle is None:
            return
        got_data = False
        try:
            handle.seek(tail.splitter.offset + tail.splitter.buffered)
            while chunk := handle.read(self.config.read_chunk_bytes):
                got_data = True
                for line in tail.splitter.feed(chunk):
                    text, bad = decode(line.raw, self.config.encoding)
                    if tail.joiner is None:
                        yield self._item(fp, tail.path, Entry(text, line.start, line.end, 1, bad))
                        continue
                    done = tail.joiner.push(text, line.start, line.end, bad)
                    if done is not None:
                        yield self._item(fp, tail.path, done)
        finally:
            handle.close()
        now = self._clock()
        if got_data:
            tail.last_data_at = now
        elif tail.joiner is not None and now - tail.last_data_at >= _flush_after(self.config):
            done = tail.joiner.flush()
            if done is not None:
                yield self._item(fp, tail.path, done)

    def _item(self, fp: str, path: str, entry: Entry) -> Item:
        offset: JsonValue = {"offset": entry.end, "path": path}
        position = (fp, offset)
        where: dict[str, JsonValue] = {"path": path, "offset": entry.start, "fingerprint": fp}
        try:
            parsed = self._parser.parse(entry.text)
        except ParseError as exc:
            return Reject("unparseable_line", str(exc), position, where, entry.text.encode())
        metadata: dict[str, JsonValue] = {"path": path, "offset": entry.start, "fingerprint": fp}
        if entry.lines > 1:
            metadata["lines"] = entry.lines
        if entry.decode_errors:
            metadata["decode_errors"] = True
        content = self._template.render(parsed.fields) if self._template else parsed.content
        return self._factory.build(f"{fp}:{entry.start}", content, parsed.fields, metadata, position)


def _file_type(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink (follow_symlinks is off)"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "other"


def _parser(config: LogSourceConfig) -> Parser:
    if config.parser == "json":
        return JsonLineParser(config.message_field)
    if config.parser == "regex":
        assert config.pattern is not None  # noqa: S101 - guaranteed by the config validator
        return RegexParser(config.pattern, config.message_field)
    return PlainParser()


def _joiner(config: LogSourceConfig) -> MultilineJoiner | None:
    if config.multiline is None:
        return None
    m = config.multiline
    return MultilineJoiner(m.start_pattern, m.continuation_pattern, m.max_lines)


def _flush_after(config: LogSourceConfig) -> float:
    return config.multiline.flush_after_s if config.multiline is not None else 0.0
