"""Evaluator: scores new models, applies gates and promotes or rejects them."""
