#!/bin/sh
# Formats KRaft storage on first start, then runs the node in the foreground.
# TUNELINE_KAFKA_PROPERTIES, when set, replaces the baked server.properties (ports, data dir).
set -eu
config=/opt/kafka/config/server.properties
if [ -n "${TUNELINE_KAFKA_PROPERTIES:-}" ]; then
  config=/tmp/server.properties
  printf '%s\n' "$TUNELINE_KAFKA_PROPERTIES" > "$config"
fi
classpath="/opt/kafka/libs/*"
log4j="-Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties"
cluster_id="${TUNELINE_KAFKA_CLUSTER_ID:-$(java -Xmx128m -cp "$classpath" kafka.tools.StorageTool random-uuid 2>/dev/null)}"
java -Xmx256m "$log4j" -cp "$classpath" kafka.tools.StorageTool format --ignore-formatted -t "$cluster_id" -c "$config"
exec java "-Xmx$KAFKA_HEAP" "-Xms$KAFKA_HEAP" -XX:+UseG1GC "$log4j" -cp "$classpath" kafka.Kafka "$config"
