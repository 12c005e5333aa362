"""The trainer's exceptions: one root, a few meaningful kinds."""

from __future__ import annotations


class TrainerError(Exception):
    """Root of every error the trainer raises on purpose."""


class ConfigError(TrainerError):
    """A training config, a dataset policy or a request's overrides are invalid."""


class UnknownDataset(TrainerError):
    """The dataset is not configured for training."""


class RunNotFound(TrainerError):
    pass


class InvalidTransition(TrainerError):
    """A run was asked to move to a state it cannot reach from where it is (e.g. cancel a finished run)."""


class EmptySnapshot(TrainerError):
    """The dataset has no records up to the watermark, or none on one side of the split."""
