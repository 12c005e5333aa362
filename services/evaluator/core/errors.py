"""The evaluator's exceptions: one root, a few meaningful kinds."""

from __future__ import annotations


class EvaluatorError(Exception):
    """Root of every error the evaluator raises on purpose."""


class ConfigError(EvaluatorError):
    """The evaluator's YAML config is missing, unreadable or invalid."""


class NoEvalData(EvaluatorError):
    """The run has no eval example to measure the models on."""


class ModelLoadError(EvaluatorError):
    """A model folder cannot be loaded (missing files, no tokenizer, not a causal LM)."""
