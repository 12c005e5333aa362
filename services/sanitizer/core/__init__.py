"""The sanitizer's pure logic: normalization, deduplication, PII detection and anonymization steps.

No Kafka, no Faust, no spaCy or Presidio imports here: the NER model and the Presidio anonymizer are
reached through the small protocols in ``detect`` and ``anonymize``, implemented in ``adapters``.
"""
