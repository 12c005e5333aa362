"""Training lifecycle events to ``training.events``, keyed by run id, confirmed before returning."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, Producer

from libs.common.kafka import producer_config
from libs.common.settings import SharedSettings
from libs.schemas.events import ModelPromoted, TrainingCompleted, TrainingRequested
from services.trainer.core.errors import TrainerError

log = logging.getLogger(__name__)


class EventNotDelivered(TrainerError):
    pass


class EventPublisher:
    def __init__(self, shared: SharedSettings, topic: str, timeout_s: float = 30.0) -> None:
        self._producer = Producer(
            producer_config(
                shared, {"client.id": "tuneline-trainer", "message.timeout.ms": int(timeout_s * 1000)}
            )
        )
        self._topic = topic
        self._timeout_s = timeout_s

    def publish(self, event: TrainingRequested | TrainingCompleted | ModelPromoted) -> None:
        """Send and wait for the broker's acknowledgement; EventNotDelivered otherwise."""
        errors: list[KafkaError] = []

        def on_delivery(err: KafkaError | None, _msg: Any) -> None:
            if err is not None:
                errors.append(err)

        self._producer.produce(
            self._topic,
            key=event.run_id.encode(),
            value=event.model_dump_json().encode(),
            on_delivery=on_delivery,
        )
        remaining = self._producer.flush(self._timeout_s)
        if errors or remaining:
            reason = str(errors[0]) if errors else f"not acknowledged within {self._timeout_s:.0f} s"
            raise EventNotDelivered(f"{event.type} for run {event.run_id}: {reason}")
        log.info("event published", extra={"run_id": event.run_id, "type": event.type})

    def close(self) -> None:
        self._producer.flush(self._timeout_s)
