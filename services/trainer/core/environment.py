"""The environment a training job starts with: the trainer's own, less the secrets the job has no use for.

The job runs code chosen by a request (a base model's files, its tokenizer, Ray workers that may run
on other nodes) and talks to DynamoDB and the model store only, never to Kafka or the admin API: the
admin token, Kafka's settings and any other service's keys stay with the trainer. Names are matched by
their words, so a new secret setting (``..._TOKEN``, ``..._KEY_FILE``) is left out without being listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

# A TUNELINE_ variable with one of these words in its name holds a secret or the path of one.
SECRET_WORDS: Final = frozenset({"TOKEN", "SECRET", "SECRETS", "PASSWORD", "KEY", "CREDENTIALS"})


def is_secret(name: str) -> bool:
    """A tuneline setting the job must not see. Every Kafka setting goes (the job never connects, and
    half a TLS or SASL configuration would not even validate); AWS's variables stay, since the job
    reads the snapshot and writes the model with them."""
    words = name.upper().split("_")
    if words[0] != "TUNELINE":
        return False
    return words[1:2] == ["KAFKA"] or not SECRET_WORDS.isdisjoint(words[1:])


def job_environment(environ: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**{k: v for k, v in environ.items() if not is_secret(k)}, **(extra or {})}
