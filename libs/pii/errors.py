"""Errors of the PII detector's configuration."""

from __future__ import annotations


class PiiConfigError(ValueError):
    """The detection policy, or the NER model it names, cannot be used."""
