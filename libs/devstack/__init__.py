"""The real local infrastructure (Apache Kafka in KRaft mode and a DynamoDB-compatible server),
shared by ``tuneline dev``, the test fixtures, the demo and the benchmarks."""
