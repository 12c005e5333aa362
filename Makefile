# Every target installs what it needs (scripts/setup.sh is idempotent and fast when done).
.PHONY: setup lint format test test-unit test-integration test-slow test-deploy test-reliability test-e2e images bench bench-quick demo demo-down clean

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

# Everything: unit, integration (real Kafka and DynamoDB-compatible servers), slow (the real base model)
# and the end-to-end pipeline (the demo at a smaller scale). -m "" lifts pyproject's unit-only default.
test: setup
	$(PY) -m pytest -m ""

test-e2e: setup
	$(PY) -m pytest -m e2e

test-unit: setup
	$(PY) -m pytest

test-integration: setup
	$(PY) -m pytest -m integration

# Faults and hostile input on the pipeline as real processes (tests/reliability).
test-reliability: setup
	$(PY) -m pytest -m reliability

# Unit tests that load the real base model (a few seconds each).
test-slow: setup
	$(PY) -m pytest -m slow

# The compose smoke test alone (tests/deploy/test_compose.py): builds what it needs, runs the stack.
test-deploy: setup
	$(PY) -m pytest -m deploy

# Every service image (deploy/docker), tagged tuneline/<service>:<version> and :latest, on the local
# Debian base (BASE_IMAGE=python:3.11-slim-bookworm where a registry answers); prints time and size.
# IMAGES="collector writer" builds some only.
images: setup
	bash scripts/build-images.sh $(IMAGES)

# Every benchmark in turn, then one table: stage, figure, value, baseline, ratio, target (benchmarks/run.py).
bench: setup
	$(PY) -m benchmarks.run

# The same figures at small sizes, in a few minutes (noisier ratios: publish the full run's).
bench-quick: setup
	$(PY) -m benchmarks.run --quick

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
