package io.tokenpipe.common.event;

/** Where a record lives in Kafka: its provenance. */
public record KafkaRef(String topic, int partition, long offset) {
}
