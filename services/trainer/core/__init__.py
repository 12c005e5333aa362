"""The trainer's pure logic: configuration, run lifecycle, split, formatting, packing, scheduling."""
