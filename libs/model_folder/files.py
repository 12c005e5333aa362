"""The names of the files in a published model folder (one folder per run id in the model store).

The trainer writes the weights, tokenizer, ``manifest.json`` (last: a folder with a manifest is
complete), ``records.jsonl`` (lineage) and ``eval.jsonl`` (the eval split); the evaluator adds its
report under ``evaluation/``; the admin API and the model server read them.
"""

from __future__ import annotations

from typing import Final

MANIFEST_FILE: Final = "manifest.json"
RECORDS_FILE: Final = "records.jsonl"  # every record the run read, with its split (lineage)
EVAL_FILE: Final = "eval.jsonl"  # the eval split: one JSON object per record
TRAINING_LOG_FILE: Final = "training_log.json"  # the Trainer's log history (loss per logged step)
EVALUATION_DIR: Final = "evaluation"  # the evaluator's report: JSON, Markdown and charts/*.png
EVALUATION_JSON: Final = "evaluation.json"
EVALUATION_MARKDOWN: Final = "evaluation.md"
EVALUATION_CHARTS_DIR: Final = "charts"
DRIFT_DIR: Final = "drift"  # continuous evaluation of the model once in production: JSON, Markdown, charts
DRIFT_JSON: Final = "drift.json"
DRIFT_MARKDOWN: Final = "drift.md"
