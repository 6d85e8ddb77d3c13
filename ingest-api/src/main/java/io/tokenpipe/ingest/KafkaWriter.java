package io.tokenpipe.ingest;

import io.tokenpipe.common.event.EventHeaders;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.http.ApiException;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Writes one record and waits for Kafka's acknowledgement (acks=all) before the request is answered. */
final class KafkaWriter {

    private final Producer<String, byte[]> producer;
    private final Duration timeout;

    KafkaWriter(Producer<String, byte[]> producer, Duration timeout) {
        this.producer = producer;
        this.timeout = timeout;
    }

    RecordMetadata write(String topic, String key, String type, Object value) {
        return writeBytes(topic, key, type, Json.bytes(value));
    }

    RecordMetadata writeBytes(String topic, String key, String type, byte[] value) {
        ProducerRecord<String, byte[]> record = new ProducerRecord<>(topic, null, key, value,
                EventHeaders.withType(type));
        try {
            return producer.send(record).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw ApiException.unavailable("kafka_unavailable", "could not write to Kafka: " + e.getCause().getMessage()
                    + "; retry with the same Idempotency-Key");
        } catch (TimeoutException e) {
            throw ApiException.unavailable("kafka_unavailable", "Kafka did not acknowledge the write within " + timeout
                    + "; it may still land: retry with the same Idempotency-Key");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw ApiException.unavailable("shutting_down", "the server is shutting down");
        }
    }
}
