# Every target installs what it needs (scripts/setup.sh is idempotent and fast when done).
.PHONY: setup lint format test test-unit test-integration bench demo demo-down clean

PY := .venv/bin/python

setup:
	bash scripts/setup.sh

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Unit and integration tests against real Kafka and DynamoDB-compatible servers.
test: setup
	$(PY) -m pytest -m "not e2e"

test-unit: setup
	$(PY) -m pytest

test-integration: setup
	$(PY) -m pytest -m integration

bench: setup
	$(PY) benchmarks/bench_codec.py
	$(PY) benchmarks/writer.py
	$(PY) benchmarks/collector.py
	$(PY) -m benchmarks.sanitizer_quality
	$(PY) -m benchmarks.sanitizer_speed
	$(PY) -m benchmarks.trainer
	$(PY) -m benchmarks.evaluator

# The whole mission on this machine: example systems -> Kafka -> sanitizer -> DynamoDB -> a fine-tuned,
# evaluated and promoted model, with a live view and a summary (examples/demo). DEMO_ARGS=--keep-running
# leaves the stack up; `make demo-down` stops it.
demo: setup
	$(PY) -m examples.demo $(DEMO_ARGS)

demo-down: setup
	$(PY) -m examples.demo down

clean:
	-.venv/bin/tuneline dev down
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
