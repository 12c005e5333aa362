"""Root conftest: the real-server fixtures live in tests/fixtures/."""

pytest_plugins = ["tests.fixtures.servers", "tests.fixtures.postgres", "tests.fixtures.collector"]
