"""The evaluator's pure logic: examples, metrics, canaries, gates and the report (no I/O, no torch)."""
