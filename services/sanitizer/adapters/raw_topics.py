"""Which raw topics the worker reads when it is given a pattern rather than a list.

Faust cannot subscribe by pattern: its aiokafka driver subscribes to a list of names (faust-streaming
0.15.3, ``transport/drivers/aiokafka.py``: "pattern does not work"), so a pattern topic is silently
never assigned and the worker idles while the raw topics fill up. The pattern is therefore resolved
against the broker's topics: at start, waiting until at least one matches, and then every
``refresh_s``; a topic created later (a new source) stops the worker gracefully, so that its restart
(Kubernetes, Compose, systemd) subscribes to it as well. Offsets are committed per group, so the
restart resumes where the worker stopped.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable

from libs.common.kafka import admin_client
from libs.common.settings import SharedSettings

log = logging.getLogger(__name__)


def matching_topics(names: Iterable[str], pattern: str) -> list[str]:
    """The topic names the pattern matches in full, sorted (internal ``__*`` topics never)."""
    compiled = re.compile(pattern)
    return sorted(n for n in names if not n.startswith("__") and compiled.fullmatch(n))


def list_topic_names(shared: SharedSettings) -> list[str]:
    return list(admin_client(shared).list_topics(timeout=10).topics)


def wait_for_raw_topics(
    list_names: Callable[[], Iterable[str]],
    pattern: str,
    stopping: threading.Event,
    poll_s: float = 2.0,
    log_every_s: float = 30.0,
) -> list[str]:
    """The topics matching ``pattern``, once there is at least one (empty if ``stopping`` is set)."""
    last_log = 0.0
    while not stopping.is_set():
        try:
            found = matching_topics(list_names(), pattern)
        except Exception as exc:  # a broker that does not answer yet: keep waiting, say so
            found = []
            log.warning("cannot list topics", extra={"error": str(exc)})
        if found:
            return found
        if time.monotonic() - last_log >= log_every_s:
            log.info("waiting for a raw topic (no collector has created one yet)", extra={"pattern": pattern})
            last_log = time.monotonic()
        stopping.wait(poll_s)
    return []


class NewTopicWatcher:
    """Stops this process (SIGTERM, the worker's graceful path) when a topic matching the pattern
    appears that the worker is not subscribed to."""

    def __init__(
        self,
        list_names: Callable[[], Iterable[str]],
        pattern: str,
        subscribed: Iterable[str],
        refresh_s: float,
        on_new: Callable[[list[str]], None] | None = None,
    ) -> None:
        self._list_names = list_names
        self._pattern = pattern
        self._subscribed = set(subscribed)
        self._refresh_s = refresh_s
        self._on_new = on_new or _restart
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="raw-topic-watcher", daemon=True)

    def start(self) -> NewTopicWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()

    def check(self) -> list[str]:
        """New matching topics now (empty if none); calls ``on_new`` when there are some."""
        new = [t for t in matching_topics(self._list_names(), self._pattern) if t not in self._subscribed]
        if new:
            self._on_new(new)
        return new

    def _run(self) -> None:
        while not self._stopping.wait(self._refresh_s):
            try:
                if self.check():
                    return
            except Exception as exc:  # a slow broker: try again at the next refresh
                log.warning("cannot list topics", extra={"error": str(exc)})


def _restart(new: list[str]) -> None:
    log.warning(
        "new raw topics: stopping so that the restarted worker subscribes to them", extra={"topics": new}
    )
    os.kill(os.getpid(), signal.SIGTERM)
