"""The model server's Prometheus metrics, on a registry of its own per app (tests run several)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


@dataclass(frozen=True)
class ServerMetrics:
    requests: Counter
    completions: Counter
    tokens_in: Counter
    tokens_out: Counter
    time_to_first_token: Histogram
    tokens_per_second: Histogram
    request_seconds: Histogram
    queue_depth: Gauge
    in_flight: Gauge
    batch_size: Histogram
    production: Gauge
    switches: Counter
    load_errors: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ServerMetrics:
        p = "tuneline_server_"
        return cls(
            requests=Counter(
                f"{p}http_requests",
                "HTTP requests by route template and status.",
                ["route", "status"],
                registry=registry,
            ),
            completions=Counter(
                f"{p}completions",
                "Finished completions by dataset and finish reason.",
                ["dataset", "finish_reason"],
                registry=registry,
            ),
            tokens_in=Counter(f"{p}prompt_tokens", "Prompt tokens read.", ["dataset"], registry=registry),
            tokens_out=Counter(f"{p}completion_tokens", "Tokens generated.", ["dataset"], registry=registry),
            time_to_first_token=Histogram(
                f"{p}time_to_first_token_seconds",
                "Queued to first new token.",
                ["dataset"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            tokens_per_second=Histogram(
                f"{p}tokens_per_second",
                "Generation speed seen by one request.",
                ["dataset"],
                buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
                registry=registry,
            ),
            request_seconds=Histogram(
                f"{p}completion_seconds",
                "Whole completion time.",
                ["dataset"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            queue_depth=Gauge(
                f"{p}queue_depth", "Requests waiting for a batch.", ["dataset"], registry=registry
            ),
            in_flight=Gauge(f"{p}requests_in_flight", "Completions being served.", registry=registry),
            batch_size=Histogram(
                f"{p}batch_size",
                "Requests per generate call.",
                ["dataset"],
                buckets=(1, 2, 4, 8, 16, 32, 64),
                registry=registry,
            ),
            production=Gauge(
                f"{p}production_run",
                "1 for the run each dataset serves.",
                ["dataset", "run_id"],
                registry=registry,
            ),
            switches=Counter(
                f"{p}model_switches", "Production model switches.", ["dataset"], registry=registry
            ),
            load_errors=Counter(
                f"{p}model_load_errors",
                "Production models that failed to load.",
                ["dataset"],
                registry=registry,
            ),
        )
