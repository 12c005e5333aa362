"""The trainer's edges: DynamoDB (runs, leases, counters, snapshots), Kafka events, model store, Ray."""
