"""Collector: streams records out of SQL databases, log files and HTTP APIs onto Kafka."""
