"""The writer's edges: Kafka consumer loop, DynamoDB batch writes, tables and counters."""
