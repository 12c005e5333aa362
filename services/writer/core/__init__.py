"""The writer's pure logic: record-to-item mapping, batching and offsets, retry delays. No I/O."""
