package io.tokenpipe.standalone.audit;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.kafka.Partitioning;
import io.tokenpipe.common.privacy.SessionCipher;
import io.tokenpipe.testing.SharedKafka;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

import javax.crypto.SecretKey;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/** Kafka as an outsider with a plain consumer sees it: the records of one session, bytes as stored. */
final class RawTopics {

    private RawTopics() {
    }

    /** Every record of {@code sessionId} in {@code topic} (its partition, from the beginning to the end now). */
    static List<ConsumerRecord<String, byte[]>> records(String topic, String sessionId) {
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(SharedKafka.settings().consumer(Map.of(),
                Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted")), new StringDeserializer(), new ByteArrayDeserializer())) {
            List<PartitionInfo> partitions = consumer.partitionsFor(topic);
            TopicPartition tp = new TopicPartition(topic, Partitioning.partitionOf(sessionId, partitions.size()));
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long end = consumer.endOffsets(List.of(tp)).get(tp);
            List<ConsumerRecord<String, byte[]>> found = new ArrayList<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (consumer.position(tp) < end && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                    if (sessionId.equals(record.key())) {
                        found.add(record);
                    }
                }
            }
            return found;
        }
    }

    /** The last record of the session in the key topic, as JSON. */
    static JsonNode lastKeyRecord(String keyTopic, String sessionId) {
        List<ConsumerRecord<String, byte[]>> records = records(keyTopic, sessionId);
        if (records.isEmpty()) {
            return null;
        }
        try {
            return Json.MAPPER.readTree(records.getLast().value());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The session's data key as the key topic holds it now, or {@code null}. */
    static SecretKey key(String keyTopic, String sessionId) {
        JsonNode last = lastKeyRecord(keyTopic, sessionId);
        return last == null || !last.hasNonNull("key") ? null : SessionCipher.key(Base64.getDecoder().decode(last.get("key").asText()));
    }

    static boolean contains(byte[] haystack, String needle) {
        return new String(haystack, java.nio.charset.StandardCharsets.ISO_8859_1).contains(needle);
    }
}
