package io.tokenpipe.delivery;

import io.tokenpipe.common.auth.Principal;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.kafka.KafkaSettings;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The access trail: every audit read (a search, a transcript, a replay) is written to an append-only
 * topic before it is served, naming who read (the API key's name, never the key), when, which session
 * and how. A read whose record Kafka does not acknowledge is refused (503), so none goes unrecorded.
 */
final class AccessTrail implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(AccessTrail.class);

    /** One audit read, as stored. */
    record Entry(int v, Instant at, String actorKind, String actor, String action, String sessionId,
                 Map<String, String> detail) {
        static final int VERSION = 1;
    }

    /** A page of the trail; {@code nextAfter} is the position to continue from ({@code null}: the end for now). */
    record Page(List<Positioned> entries, Long nextAfter) {
    }

    /** An entry with its position in the trail. */
    record Positioned(long position, Entry entry) {
    }

    static final String SEARCH = "sessions.search";
    static final String TRANSCRIPT = "session.transcript";
    static final String REPLAY = "session.replay";

    private final KafkaSettings kafka;
    private final String topic;
    private final Duration writeTimeout;
    private final Producer<String, byte[]> producer;
    private final Clock clock;

    AccessTrail(KafkaSettings kafka, String topic, Duration writeTimeout, Clock clock) {
        this.kafka = kafka;
        this.topic = topic;
        this.writeTimeout = writeTimeout;
        this.clock = clock;
        this.producer = new KafkaProducer<>(kafka.producer(
                Map.of(ProducerConfig.LINGER_MS_CONFIG, 0, // each read waits for its own record
                        ProducerConfig.CLIENT_ID_CONFIG, "tokenpipe-access-trail"),
                Map.of(ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true)),
                new StringSerializer(), new ByteArraySerializer());
    }

    /**
     * Records a read and waits for Kafka's acknowledgement.
     *
     * @throws ApiException 503 {@code audit_trail_unavailable} when the record could not be written
     */
    void record(Principal who, String action, String sessionId, Map<String, String> detail) {
        Entry entry = new Entry(Entry.VERSION, clock.instant(), who.kind().name().toLowerCase(java.util.Locale.ROOT),
                who.name(), action, sessionId, detail);
        try {
            producer.send(new ProducerRecord<>(topic, sessionId, Json.bytes(entry)))
                    .get(writeTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            log.warn("access trail record of {} by {} not written: {}", action, who.name(), e.toString());
            throw ApiException.unavailable("audit_trail_unavailable",
                    "this read could not be recorded in the access trail, so it is not served; retry shortly");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw ApiException.unavailable("audit_trail_unavailable", "interrupted while recording the read");
        }
    }

    /**
     * Up to {@code limit} entries after position {@code after} (-1: from the start), or from the first
     * entry written at or after {@code since} when it is given.
     */
    Page read(long after, Instant since, int limit) {
        TopicPartition partition = new TopicPartition(topic, 0);
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(kafka.consumer(
                Map.of(ConsumerConfig.CLIENT_ID_CONFIG, "tokenpipe-access-trail-reader"),
                Map.of(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false)),
                new StringDeserializer(), new ByteArrayDeserializer())) {
            consumer.assign(Set.of(partition));
            long end = consumer.endOffsets(Set.of(partition), writeTimeout).get(partition);
            long start = consumer.beginningOffsets(Set.of(partition), writeTimeout).get(partition);
            long from = Math.max(start, after + 1);
            if (since != null) {
                OffsetAndTimestamp at = consumer.offsetsForTimes(Map.of(partition, since.toEpochMilli()), writeTimeout).get(partition);
                from = Math.max(from, at == null ? end : at.offset());
            }
            List<Positioned> entries = new ArrayList<>();
            long position = from;
            consumer.seek(partition, from);
            long deadline = System.nanoTime() + writeTimeout.toNanos();
            while (position < end && entries.size() < limit) {
                if (System.nanoTime() > deadline) {
                    throw ApiException.unavailable("audit_trail_unavailable", "the access trail could not be read in time");
                }
                for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                    if (entries.size() < limit) {
                        entries.add(new Positioned(record.offset(), Json.read(record.value(), Entry.class)));
                    }
                }
                position = consumer.position(partition);
            }
            Long next = entries.isEmpty() ? null : entries.getLast().position();
            return new Page(entries, next != null && next + 1 < end ? next : null);
        } catch (org.apache.kafka.common.KafkaException e) {
            throw ApiException.unavailable("audit_trail_unavailable", "the access trail cannot be read right now: " + e.getMessage());
        }
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
    }
}
