"""The evaluator's edges: models (transformers), the PII scan (the sanitizer's detector), charts, files."""
