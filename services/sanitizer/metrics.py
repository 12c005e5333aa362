"""The sanitizer's Prometheus metrics. Labels are sources, datasets, reasons, entity types and stage
names: never a value."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

RECORDS_IN = Counter("tuneline_sanitizer_records_in_total", "Messages consumed from raw topics", ["source"])
RECORDS_OUT = Counter(
    "tuneline_sanitizer_records_out_total", "Records sent to sanitized.records", ["dataset"]
)
DROPPED = Counter("tuneline_sanitizer_dropped_total", "Records dropped (duplicates, filters)", ["reason"])
DEAD_LETTERS = Counter(
    "tuneline_sanitizer_dead_letters_total", "Messages sent to raw.dlq.sanitizer", ["reason"]
)
PII_FOUND = Counter("tuneline_sanitizer_pii_total", "Values replaced, by entity type", ["entity"])
STAGE_SECONDS = Histogram(
    "tuneline_sanitizer_stage_seconds",
    "Time spent in a pipeline step per call",
    ["stage"],
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5),
)
OFFSETS_SKIPPED = Counter(
    "tuneline_sanitizer_offsets_skipped_total",
    "Offsets between two consecutive events of a partition that the agent never received (events "
    "dropped inside Faust, or compaction / transaction markers)",
    ["stage"],
)
OFFSETS_HELD = Counter(
    "tuneline_sanitizer_offsets_held_total",
    "Commits held back because the lowest offset processed was above the committed one (an event "
    "dropped inside Faust, to be read again after the next seek)",
    ["topic"],
)
THROUGHPUT = Gauge("tuneline_sanitizer_records_per_second", "Records out per second over the last window")


def observe_stage(stage: str, seconds: float, records: int) -> None:
    STAGE_SECONDS.labels(stage).observe(seconds)


class RateMeter:
    """Records per second over a sliding window, published to ``THROUGHPUT``."""

    def __init__(self, window_s: float = 10.0) -> None:
        self._window = window_s
        self._start = time.monotonic()
        self._count = 0

    def add(self, n: int = 1) -> None:
        self._count += n
        now = time.monotonic()
        if now - self._start >= self._window:
            THROUGHPUT.set(self._count / (now - self._start))
            self._start, self._count = now, 0
