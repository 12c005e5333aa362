"""Keys of the items more than one service reads or writes in the state and runs tables.

State table (``pk`` only): ``dataset#<name>``, the per-dataset counters (the writer adds, the trainer
reads and resets); ``lease#<name>``, the scheduler lease of a dataset.
Runs table (``pk``, ``sk``): ``run#<id>`` with ``sk`` ``run`` (the run, written by the trainer) and
``evaluation`` (its report, by the evaluator); ``model#<dataset>`` with ``sk`` ``production`` (the
production alias: evaluator, admin API, model server) and ``drift`` (the latest continuous-evaluation
report and its history: evaluator, admin API). Keys one service alone uses (the trainer's
``idem#``) stay with that service. Canary secrets are in a table of their own
(``tables.canary_secrets_table``), never in these.
"""

from __future__ import annotations

from typing import Final

DATASET_PREFIX: Final = "dataset#"
LEASE_PREFIX: Final = "lease#"
RUN_PREFIX: Final = "run#"
MODEL_PREFIX: Final = "model#"

RUN_SK: Final = "run"
EVALUATION_SK: Final = "evaluation"
PRODUCTION_SK: Final = "production"
DRIFT_SK: Final = "drift"


def dataset_pk(dataset: str) -> str:
    return f"{DATASET_PREFIX}{dataset}"


def lease_pk(dataset: str) -> str:
    return f"{LEASE_PREFIX}{dataset}"


def run_pk(run_id: str) -> str:
    return f"{RUN_PREFIX}{run_id}"


def model_pk(dataset: str) -> str:
    return f"{MODEL_PREFIX}{dataset}"
