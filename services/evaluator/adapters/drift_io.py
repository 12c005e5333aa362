"""Continuous evaluation's I/O: the fresh records of a dataset (records table), the production model
measured on them, and the training request to the admin API."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from libs.storage.snapshot import SnapshotReader
from libs.training_data.formatting import to_example
from libs.training_data.split import is_eval
from services.evaluator.adapters.model_eval import (
    ModelRunner,
    RougeL,
    configure_determinism,
    generation_results,
    load_model,
)
from services.evaluator.core.config import EvaluatorConfig
from services.evaluator.core.drift import TrainingRequestOutcome
from services.evaluator.core.examples import UNKNOWN_SOURCE, EvalExample, cap_examples, for_generation
from services.evaluator.core.metrics import ModelMetrics, summarize

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S: Final = 30.0


class FreshRecords:
    """The records of a dataset ingested in a window, as eval examples (the trainer's record -> example
    rule; on the eval side of its split when ``held_out_only``)."""

    def __init__(self, reader: SnapshotReader) -> None:
        self._reader = reader

    @classmethod
    def from_client(cls, dynamodb: Any, table_prefix: str, index_shards: int) -> FreshRecords:
        return cls(SnapshotReader(dynamodb, table_prefix, index_shards))

    def examples(
        self,
        dataset: str,
        after_ms: int,
        until_ms: int,
        eval_fraction: float,
        held_out_only: bool,
        max_records: int | None,
    ) -> list[EvalExample]:
        chosen = []
        for record in self._reader.read(dataset, until_ms, after_ms=after_ms):
            if held_out_only and not is_eval(record.id, eval_fraction):
                continue
            example = to_example(record.content, record.fields)
            if example is None:
                continue
            chosen.append(
                EvalExample(
                    record_id=record.id,
                    source=record.source or UNKNOWN_SOURCE,
                    dataset=dataset,
                    text=example.text,
                    prompt=example.prompt,
                    response=example.response,
                )
            )
        return cap_examples(chosen, max_records)


def measure(model_dir: Path, examples: Sequence[EvalExample], config: EvaluatorConfig) -> ModelMetrics:
    """The model's metrics on ``examples`` (losses per source; greedy generations for up to
    ``drift.max_pairs`` prompt/response pairs, scored per source)."""
    configure_determinism(config.runtime.seed)
    loaded = load_model(model_dir, config.runtime)
    try:
        runner = ModelRunner(loaded, config)
        losses = runner.losses(examples)
        pairs = for_generation(examples, config.drift.max_pairs, 0)
        generations = []
        if pairs:
            cfg = config.generation
            texts = runner.generate(runner.generation_prompts(pairs), cfg.max_new_tokens, cfg.batch_size)
            generations = generation_results(pairs, texts, RougeL())
        return summarize(loaded.fingerprint, losses, generations, config.generation.repetition_ngram)
    finally:
        loaded.close()


def read_token(value: str | None, file: Path | None) -> str | None:
    """The admin token as the other clients read it: the file (preferred) or the value."""
    if file is not None:
        return file.read_text(encoding="utf-8").strip() or None
    return (value or "").strip() or None


class AdminClient:
    """``POST /v1/trainings`` with reason ``drift`` and an ``Idempotency-Key`` (bearer token)."""

    def __init__(self, url: str, token: str | None, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the admin API URL must be http(s): {url!r}")
        self.url, self._token, self._timeout = url.rstrip("/"), token, timeout_s

    def request_drift_run(self, dataset: str, key: str) -> TrainingRequestOutcome:
        body = json.dumps({"dataset": dataset, "reason": "drift"}).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            f"{self.url}/v1/trainings", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                status, payload = response.status, _json(response.read())
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, _json(exc.read())
        except (urllib.error.URLError, OSError) as exc:
            return TrainingRequestOutcome(status="failed", idempotency_key=key, detail=f"admin API: {exc}")
        found = payload.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        if status == 202:
            return TrainingRequestOutcome(
                status="requested", idempotency_key=key, run_id=payload.get("run_id")
            )
        if status == 200:
            return TrainingRequestOutcome(
                status="replayed",
                idempotency_key=key,
                run_id=payload.get("run_id"),
                detail="already requested for this model and window",
            )
        code, message = str(error.get("code", status)), str(error.get("message", ""))
        if code == "cooling_down":
            return TrainingRequestOutcome(status="cooling_down", idempotency_key=key, detail=message)
        kind = "refused" if 400 <= status < 500 else "failed"
        return TrainingRequestOutcome(status=kind, idempotency_key=key, detail=f"{status} {code}: {message}")


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
